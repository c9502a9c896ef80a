"""Nothing but the collected static files is ever served: traversal and encoding tricks.

Each request goes over a raw socket, byte for byte as written here: an HTTP client
library would normalise the path (or refuse it) before the server ever saw it.
"""

from __future__ import annotations

import re
import socket
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from .archives import SECRET_KEY, Built, Server, running_server, site_env

pytestmark = pytest.mark.e2e

UP = "../"
# Ways of writing "../" that a server or a library might decode into one.
UPS = {
    "plain": "../",
    "encoded dots": "%2e%2e/",
    "encoded dots, upper case": "%2E%2E/",
    "encoded slash": "..%2f",
    "all encoded": "%2e%2e%2f",
    "double-encoded dots": "%252e%252e/",
    "double-encoded slash": "..%252f",
    "backslash": "..\\",
    "encoded backslash": "..%5c",
    "overlong UTF-8 dots": "%c0%ae%c0%ae/",
    "overlong UTF-8 slash": "..%c0%af",
    "three-byte overlong slash": "..%e0%80%af",
    "one encoded dot": ".%2e/",
    "doubled": "....//",
    "semicolon": "..;/",
    "full-width dots": "%ef%bc%8e%ef%bc%8e/",
}
# What lies next to the static files in the extraction, relative to the static root.
NEIGHBOURS = {
    "settings": "example/settings.py",
    "source": "notes/views.py",
    "index": "_zipapp/static.json",
}
# Text that only a leaked file would contain.
SECRETS = (
    "INSTALLED_APPS",
    "DATABASES",
    "def home",
    '"paths"',
    '"etag"',
    "root:x:0:0",
    SECRET_KEY,
)


def traversal_cases() -> dict[str, str]:
    cases = {
        f"{name} to {target}": f"/static/{up}{path}"
        for name, up in UPS.items()
        for target, path in NEIGHBOURS.items()
        if target == "settings" or name in ("plain", "encoded dots", "backslash")
    }
    deep = UP * 12
    cases.update(
        {
            "deep to /etc/passwd": f"/static/{deep}etc/passwd",
            "deep, encoded, to /etc/passwd": "/static/" + "%2e%2e%2f" * 12 + "etc/passwd",
            "absolute path after the prefix": "/static//etc/passwd",
            "encoded absolute path": "/static/%2fetc%2fpasswd",
            "absolute path outside the prefix": "//etc/passwd",
            "absolute-form target": "http://127.0.0.1/static/../example/settings.py",
            "dot segment inside the prefix": "/static/notes/../../example/settings.py",
            "dot segment to the manifest": "/static/./staticfiles.json",
            "the manifest": "/static/staticfiles.json",
            "the manifest, doubled slash": "/static//staticfiles.json",
            "the manifest, encoded": "/static/staticfiles%2ejson",
            "settings from the root": "/example/settings.py",
            "settings from site-packages": "/site-packages/example/settings.py",
            "the build information": "/static/../../django_zipapp.json",
            "NUL byte, encoded": "/static/notes/site.css%00.py",
            "NUL byte before traversal": "/static/%00../example/settings.py",
            "gzip sibling of a hashed file": "{hashed}.gz",
            "brotli sibling of a hashed file": "{hashed}.br",
            "gzip sibling of an unhashed file": "/static/admin/css/base.css.gz",
            "brotli sibling of an unhashed file": "/static/admin/css/base.css.br",
            "symlink to settings.py": "/static/notes/escape.css",
            "symlink to the settings package": "/static/notes/example/settings.py",
            "symlink to /etc/passwd": "/static/notes/passwd",
            "the static directory itself": "/static/",
            "a static subdirectory": "/static/notes/",
            "the config file, by absolute path": "/static/" + deep + "{config}",
            "deep backslashes to /etc/passwd": "/static/" + "..\\" * 12 + "etc\\passwd",
            "encoded dots from a subdirectory": "/static/notes/%2e%2e/staticfiles.json",
            "encoded slashes around dots": "/static/notes%2f..%2f..%2fexample/settings.py",
            "trailing slash after a file": "/static/notes/site.css/",
            "the boot module of the archive": "/static/../../_django_zipapp_boot/entry.py",
        }
    )
    return cases


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = tmp_path_factory.mktemp("static-security") / "site.yaml"
    config.write_text(f"SECRET_KEY: {SECRET_KEY}\nALLOWED_HOSTS: [127.0.0.1]\n")
    return config


@pytest.fixture(scope="module")
def server(migrated: Built, config_file: Path) -> Iterator[Server]:
    environment = site_env(migrated, EXAMPLE_CONFIG=str(config_file))
    del environment["SECRET_KEY"]  # from the file, which must not leak either
    log = config_file.parent / "serve.log"
    with running_server(migrated.archive, environment, log, workers=1) as running:
        yield running


@pytest.fixture(scope="module")
def hashed_css(server: Server) -> str:
    status, body = raw_get(server, "/")
    match = re.search(r'href="(/static/notes/site\.[0-9a-f]{12}\.css)"', body.decode())
    assert status == 200 and match is not None
    return match[1]


def raw_get(server: Server, target: str) -> tuple[int, bytes]:
    """The status and body of a GET sent exactly as given."""
    port = int(server.base.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(
            b"GET " + target.encode("latin-1") + b" HTTP/1.1\r\n"
            b"Host: 127.0.0.1\r\nAccept-Encoding: gzip, br\r\nConnection: close\r\n\r\n"
        )
        response = b""
        while chunk := connection.recv(65536):
            response += chunk
    head, _, body = response.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def test_there_are_at_least_fifty_cases() -> None:
    assert len(traversal_cases()) >= 50


def test_the_harness_sees_a_real_file(server: Server, hashed_css: str) -> None:
    # The same client, on a file that exists: a 404 below is the server's answer.
    assert raw_get(server, hashed_css)[0] == 200
    assert raw_get(server, "/static/notes/site.css")[0] == 200


@pytest.mark.parametrize("case", sorted(traversal_cases()))
def test_nothing_outside_the_static_files(
    case: str, server: Server, hashed_css: str, config_file: Path
) -> None:
    config = str(config_file).lstrip("/")
    target = traversal_cases()[case].format(hashed=hashed_css, config=config)
    status, body = raw_get(server, target)
    assert status in (400, 404), (target, status, body[:200])
    assert [secret for secret in SECRETS if secret.encode() in body] == []


def test_links_out_of_the_project_are_not_packed(built: Built) -> None:
    with zipfile.ZipFile(built.archive) as archive:
        names = archive.namelist()
    linked = re.compile(r"/notes/(escape\.css|passwd|example/)")
    assert [name for name in names if linked.search(name)] == []


def test_a_raw_nul_byte_is_refused(server: Server) -> None:
    # gunicorn refuses the request line (400); a release that passes it on finds no
    # file of that name (404).
    assert raw_get(server, "/static/notes/site.css\x00.py")[0] in (400, 404)
