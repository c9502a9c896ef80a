"""A real site's run time: uploads, whitenoise's settings, production safety.

One project (tests/projects/uploads), built once: its settings read os.environ (DEBUG on
unless told otherwise, a placeholder key), it has whitenoise's documented middleware with
WHITENOISE_IMMUTABLE_FILE_TEST, and a model with a FileField in the admin. It runs with
the state-directory wiring the docs give (`systemd-unit --setenv`), under the sandbox of
tests/test_sandbox.py when the machine allows it.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.archives import (
    SECRET_KEY,
    Built,
    Server,
    build_in,
    run_archive,
    running_server,
    site_env,
)
from tests.test_sandbox import can_unshare, read_only_root
from tests.test_static_security import UPS, raw_get, traversal_cases

pytestmark = pytest.mark.e2e

PROJECT = Path(__file__).resolve().parent / "projects" / "uploads"
PASSWORD = "a-long-enough-password-42"
# The wiring docs/uploads.rst gives a settings module that reads os.environ.
WIRING = [
    "--setenv", "DEBUG=False",
    "--setenv", "DATABASE_PATH=%S/site/db.sqlite3",
    "--setenv", "MEDIA_ROOT=%S/site/media",
]  # fmt: skip
# Scripts that would run in the site's origin if the browser rendered the file there.
ACTIVE = {
    "page.html": b"<html><script>document.cookie='owned=1'</script></html>",
    "logo.svg": b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
}


@dataclass(frozen=True)
class Site:
    built: Built
    project: Path
    environment: dict[str, str]
    media: Path


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    work = tmp_path_factory.mktemp("uploads")
    project = work / "project"
    shutil.copytree(PROJECT, project, ignore=shutil.ignore_patterns("__pycache__"))
    (work / "srv").mkdir()
    result = build_in(project, "-o", str(work / "srv" / "site.pyz"))
    assert result.returncode == 0, result.stdout + result.stderr
    built = Built(work / "srv" / "site.pyz", result.stdout, work)
    environment = wired_environment(built, work / "lib")
    environment.update(
        DJANGO_SUPERUSER_USERNAME="admin",
        DJANGO_SUPERUSER_EMAIL="admin@example.com",
        DJANGO_SUPERUSER_PASSWORD=PASSWORD,
    )
    for command in (["migrate", "--noinput"], ["createsuperuser", "--noinput"]):
        ran = run_archive(built, *command, env=environment)
        assert ran.returncode == 0, ran.stdout + ran.stderr
    return Site(built, project, environment, Path(environment["MEDIA_ROOT"]))


def wired_environment(built: Built, lib: Path) -> dict[str, str]:
    """The service's environment from the unit `systemd-unit` writes, %S as systemd
    expands it (/var/lib for a system service; here a folder of the test's)."""
    unit = run_archive(built, "systemd-unit", *WIRING)
    assert unit.returncode == 0, unit.stderr
    assignments = re.findall(r"^Environment=(\S+)$", unit.stdout, re.MULTILINE)
    assert len(assignments) == 3
    state = lib / "site"  # StateDirectory=site
    state.mkdir(parents=True)
    environment = site_env(built, STATE_DIRECTORY=str(state), TMPDIR=str(built.work / "tmp"))
    (built.work / "tmp").mkdir(exist_ok=True)
    for assignment in assignments:
        name, value = assignment.split("=", 1)
        environment[name] = value.replace("%S", str(lib))
    return environment


@pytest.fixture(scope="module")
def server(site: Site) -> Iterator[Server]:
    work = site.built.work
    wrapper: tuple[str, ...] = ()
    if can_unshare():
        # As a sandboxed unit runs it: only the cache, state and temporary folders writable.
        wrapper = read_only_root(work / "cache", work / "lib" / "site", work / "tmp")
    with running_server(site.built.archive, site.environment, work / "serve.log", 1, wrapper) as s:
        yield s


def test_debug_on_by_default_is_refused_in_one_line(site: Site) -> None:
    environment = {k: v for k, v in site.environment.items() if k != "DEBUG"}
    ran = run_archive(site.built, "serve", "--bind", "127.0.0.1:1", env=environment)
    assert ran.returncode == 78
    (line,) = ran.stderr.splitlines()
    assert line.startswith("error: DEBUG is on in the settings serve would run with;")
    assert "--allow-debug" in line


def test_a_placeholder_secret_key_is_refused_in_one_line(site: Site) -> None:
    environment = {k: v for k, v in site.environment.items() if k != "SECRET_KEY"}
    ran = run_archive(site.built, "serve", "--bind", "127.0.0.1:1", env=environment)
    assert ran.returncode == 78
    (line,) = ran.stderr.splitlines()
    assert line.startswith("error: SECRET_KEY is insecure (Django's security.W009")


@pytest.mark.skipif(not can_unshare(), reason="unshare --user --mount is not permitted here")
def test_serves_under_the_sandbox_with_the_documented_wiring(site: Site, server: Server) -> None:
    assert urlopen(server.base + "/")[0] == 200
    assert (site.built.work / "lib" / "site" / "db.sqlite3").is_file()
    assert "Traceback" not in server.log.read_text()


class Admin:
    """A browser's session in the admin: cookies, CSRF tokens, multipart forms."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        page = self.get("/admin/login/?next=/admin/")
        self.post("/admin/login/?next=/admin/", {"username": "admin", "password": PASSWORD},
                  page)  # fmt: skip

    def get(self, path: str) -> str:
        with self.opener.open(self.base + path, timeout=10) as response:
            return str(response.read().decode())

    def post(self, path: str, fields: dict[str, str], page: str,
             files: dict[str, tuple[str, bytes]] | None = None) -> str:  # fmt: skip
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        assert token is not None
        body, content_type = multipart({**fields, "csrfmiddlewaretoken": token[1]}, files or {})
        request = urllib.request.Request(
            self.base + path,
            data=body,
            headers={"Content-Type": content_type, "Referer": self.base + path},
        )
        with self.opener.open(request, timeout=10) as response:
            return str(response.geturl())

    def upload(self, name: str, content: bytes) -> str:
        """Add a Document through the admin's form; the URL of the stored file."""
        add = "/admin/documents/document/add/"
        landed = self.post(add, {"title": name, "_save": "Save"}, self.get(add),
                           {"upload": (name, content)})  # fmt: skip
        assert landed.endswith("/admin/documents/document/"), landed
        listing = self.get("/admin/documents/document/")
        change = re.findall(r'href="(/admin/documents/document/\d+/change/)"', listing)[0]
        found = re.search(r'href="(/media/documents/[^"]+)"', self.get(change))
        assert found is not None
        return found[1]


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    for name, (filename, content) in files.items():
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        )
        parts.append(head.encode() + content + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def urlopen(url: str, method: str = "GET", **headers: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), error.read()


@pytest.fixture(scope="module")
def admin(server: Server) -> Admin:
    return Admin(server.base)


def test_a_file_uploaded_through_the_admin_is_served(server: Server, admin: Admin) -> None:
    url = admin.upload("report.txt", b"quarterly figures\n")
    status, headers, body = urlopen(server.base + url)
    assert (status, body) == (200, b"quarterly figures\n")
    assert headers["Content-Type"].startswith("text/plain")
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "Content-Disposition" not in headers


@pytest.mark.parametrize("name", sorted(ACTIVE))
def test_uploaded_active_content_cannot_run_in_the_origin(
    name: str, server: Server, admin: Admin
) -> None:
    url = admin.upload(name, ACTIVE[name])
    status, headers, body = urlopen(server.base + url)
    assert (status, body) == (200, ACTIVE[name])
    # Opened, it is downloaded; if a browser rendered it anyway (or it is framed), the
    # sandbox gives it an opaque origin with scripts off; and it is never sniffed.
    assert headers["Content-Disposition"] == "attachment"
    assert headers["Content-Security-Policy"] == "sandbox"
    assert headers["X-Content-Type-Options"] == "nosniff"


@pytest.fixture(scope="module")
def photo(site: Site, server: Server) -> tuple[str, bytes]:
    """An image written into MEDIA_ROOT after the server started (as a thumbnailer does)."""
    content = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40
    target = site.media / "later" / "photo.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content)
    return server.base + "/media/later/photo.png", content


def test_a_file_written_after_start_is_served(photo: tuple[str, bytes]) -> None:
    url, content = photo
    status, headers, body = urlopen(url)
    assert (status, body) == (200, content)
    assert headers["Content-Type"] == "image/png"
    assert headers["Cache-Control"] == "max-age=60, must-revalidate"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Content-Security-Policy"] == "sandbox"
    assert "Content-Disposition" not in headers  # an image shows inline


def test_head_range_and_conditional_requests(photo: tuple[str, bytes]) -> None:
    url, content = photo
    status, headers, body = urlopen(url, "HEAD")
    assert (status, body, headers["Content-Length"]) == (200, b"", str(len(content)))
    status, headers, body = urlopen(url, Range="bytes=8-15")
    assert (status, body) == (206, content[8:16])
    assert headers["Content-Range"] == f"bytes 8-15/{len(content)}"
    assert urlopen(url, Range=f"bytes={len(content) + 10}-")[0] == 416
    _, headers, _ = urlopen(url)
    assert urlopen(url, **{"If-None-Match": headers["ETag"]})[0] == 304
    assert urlopen(url, **{"If-Modified-Since": headers["Last-Modified"]})[0] == 304


def test_dotfiles_directories_and_links_out_are_not_served(site: Site, server: Server) -> None:
    media = site.media
    (media / "docs").mkdir(parents=True, exist_ok=True)
    (media / ".htpasswd").write_text("admin:secret\n")
    (media / "docs" / ".env").write_text("SECRET_KEY=leak\n")
    (media / ".hidden").mkdir(exist_ok=True)
    (media / ".hidden" / "note.txt").write_text("hidden\n")
    for name, target in {"passwd": "/etc/passwd", "db": "../db.sqlite3"}.items():
        if not (media / name).is_symlink():
            (media / name).symlink_to(target)
    (media / "docs" / "inside.txt").write_text("inside\n")
    if not (media / "alias.txt").is_symlink():
        (media / "alias.txt").symlink_to("docs/inside.txt")  # stays inside: served
    probes = ["/.htpasswd", "/docs/.env", "/.hidden/note.txt", "/passwd", "/db", "/docs",
              "/docs/", "/", ""]  # fmt: skip
    answered = {p: urlopen(server.base + "/media" + p)[0] for p in probes}
    assert answered == dict.fromkeys(probes, 404)
    assert urlopen(server.base + "/media/alias.txt")[:3:2] == (200, b"inside\n")


def media_traversal_cases() -> dict[str, str]:
    """The static tests' probes under MEDIA_URL, and the database beside MEDIA_ROOT."""
    cases = {
        name: target.replace("/static/", "/media/") for name, target in traversal_cases().items()
    }
    cases.update({f"{name} to the database": f"/media/{up}db.sqlite3" for name, up in UPS.items()})
    return cases


def test_no_traversal_probe_under_media_url_answers(
    server: Server, photo: tuple[str, bytes]
) -> None:
    config = "etc/passwd"
    answers = {}
    for name, target in media_traversal_cases().items():
        status, body = raw_get(
            server, target.format(hashed="/media/later/photo.png", config=config)
        )
        answers[name] = status
        assert b"root:x:0:0" not in body and b"SQLite format" not in body
    assert len(answers) > 60
    assert {name: status for name, status in answers.items() if status != 404} == {}


# Static files whose Cache-Control the project's WHITENOISE_* settings decide: a font
# without a hash in its name (WHITENOISE_IMMUTABLE_FILE_TEST), and a plain name
# (WHITENOISE_MAX_AGE).
COMPARED = ("/static/fonts/icons.woff2", "/static/site/plain.css", "/static/staticfiles.json")

MIDDLEWARE_SCRIPT = """\
import json, sys
import django
django.setup()
from django.core.management import call_command
from django.test import Client
call_command("collectstatic", "--noinput", verbosity=0)
client = Client(HTTP_HOST="localhost")
answers = {}
for url in sys.argv[1:]:
    response = client.get(url)
    answers[url] = [response.status_code, response.headers.get("Cache-Control")]
    response.close()
print(json.dumps(answers))
"""


def middleware_answers(site: Site) -> dict[str, list[object]]:
    """whitenoise's middleware in this virtualenv, on the same project."""
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "uploadsite.settings",
        **{k: site.environment[k] for k in ("SECRET_KEY", "DEBUG", "DATABASE_PATH", "MEDIA_ROOT")},
    }
    ran = subprocess.run(
        [sys.executable, "-c", MIDDLEWARE_SCRIPT, *COMPARED],
        cwd=site.project, env=environment, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    answers: dict[str, list[object]] = json.loads(ran.stdout)
    return answers


def test_whitenoise_settings_give_the_middlewares_cache_control(site: Site, server: Server) -> None:
    expected = middleware_answers(site)
    assert expected[COMPARED[0]] == [200, "max-age=315360000, public, immutable"]
    assert expected[COMPARED[1]] == [200, "max-age=600, public"]
    for url in COMPARED[:2]:
        status, headers, _ = urlopen(server.base + url)
        assert [status, headers.get("Cache-Control")] == expected[url], url


def test_the_projects_middleware_is_left_out_and_the_manifest_not_served(server: Server) -> None:
    assert urlopen(server.base + "/static/staticfiles.json")[0] == 404
    said = [line for line in server.log.read_text().splitlines() if "left out" in line]
    assert len(said) == 1
    assert "whitenoise.middleware.WhiteNoiseMiddleware is left out of MIDDLEWARE" in said[0]
    assert SECRET_KEY not in server.log.read_text()


def test_setenv_writes_environment_lines_systemd_accepts(site: Site, tmp_path: Path) -> None:
    unit = run_archive(site.built, "systemd-unit", *WIRING, "--setenv", "GREETING=hello world")
    assert unit.returncode == 0, unit.stderr
    assert "\nEnvironment=MEDIA_ROOT=%S/site/media\n" in unit.stdout
    assert '\nEnvironment="GREETING=hello world"\n' in unit.stdout
    analyze = shutil.which("systemd-analyze")
    if analyze is not None:
        (tmp_path / "site.service").write_text(unit.stdout.split("\n", 1)[1])
        verified = subprocess.run(
            [analyze, "verify", "--man=no", str(tmp_path / "site.service")],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert (verified.returncode, verified.stderr) == (0, ""), verified.stderr
    refused = run_archive(site.built, "systemd-unit", "--setenv", "no equals sign")
    assert refused.returncode == 2
    assert "--setenv takes NAME=VALUE, not 'no equals sign'" in refused.stderr
