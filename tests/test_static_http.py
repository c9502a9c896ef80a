"""The static files' headers as a browser or a CDN receives them from `serve`."""

from __future__ import annotations

import http.client
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from .archives import Built, Server, run_archive, running_server, site_env

pytestmark = pytest.mark.e2e

LONG_AGO = 1_000_000_000  # 2001: another host's clock, another extraction's mtimes


def request(
    server: Server, path: str, method: str = "GET", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    host, port = server.base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


@contextmanager
def serving_from(built: Built, shiv_root: Path) -> Iterator[Server]:
    environment = site_env(built, SHIV_ROOT=str(shiv_root))
    with running_server(built.archive, environment, shiv_root.parent / "serve.log", 1) as server:
        yield server


@pytest.fixture(scope="module")
def server(migrated: Built, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serving_from(migrated, tmp_path_factory.mktemp("static-http") / "cache") as running:
        yield running


@pytest.fixture(scope="module")
def hashed_css(server: Server) -> str:
    _, _, body = request(server, "/")
    match = re.search(r'href="(/static/notes/site\.[0-9a-f]{12}\.css)"', body.decode())
    assert match is not None
    return match[1]


def test_validators_are_the_same_on_every_extraction(migrated: Built, tmp_path: Path) -> None:
    seen = []
    for name in ("first", "second"):
        shiv_root = tmp_path / name / "cache"
        extract = run_archive(migrated, "check", env=site_env(migrated, SHIV_ROOT=str(shiv_root)))
        assert extract.returncode == 0, extract.stderr
        if name == "second":
            for directory, _, files in os.walk(shiv_root):
                for file in files:
                    os.utime(os.path.join(directory, file), (LONG_AGO, LONG_AGO))
        with serving_from(migrated, shiv_root) as server:
            _, headers, _ = request(server, "/static/admin/css/base.css")
            seen.append((headers["ETag"], headers["Last-Modified"]))
    assert seen[0] == seen[1]
    assert re.fullmatch(r'"[0-9a-f]{32}"', seen[0][0])


def test_hashed_names_are_immutable(server: Server, hashed_css: str) -> None:
    status, headers, _ = request(server, hashed_css)
    assert status == 200
    assert headers["Cache-Control"] == "max-age=315360000, public, immutable"
    assert headers["Content-Type"] == 'text/css; charset="utf-8"'
    _, headers, _ = request(server, "/static/notes/site.css")
    assert headers["Cache-Control"] == "max-age=60, public"


@pytest.mark.parametrize(
    ("accept", "encoding"),
    [("gzip", "gzip"), ("gzip, deflate, br", "br"), ("br", "br"), ("identity", None), ("", None)],
)
def test_encoding_follows_accept_encoding(
    server: Server, accept: str, encoding: str | None
) -> None:
    status, headers, body = request(
        server, "/static/admin/css/base.css", headers={"Accept-Encoding": accept}
    )
    assert status == 200
    assert headers.get("Content-Encoding") == encoding
    assert headers["Vary"] == "Accept-Encoding"
    assert int(headers["Content-Length"]) == len(body)


def test_if_none_match_answers_304(server: Server, hashed_css: str) -> None:
    _, headers, _ = request(server, hashed_css)
    status, again, body = request(server, hashed_css, headers={"If-None-Match": headers["ETag"]})
    assert (status, body) == (304, b"")
    assert again["ETag"] == headers["ETag"]


def test_range_answers_206(server: Server) -> None:
    _, _, whole = request(server, "/static/admin/css/base.css")
    status, headers, part = request(
        server, "/static/admin/css/base.css", headers={"Range": "bytes=100-199"}
    )
    assert status == 206
    assert headers["Content-Range"] == f"bytes 100-199/{len(whole)}"
    assert part == whole[100:200]


def test_head_has_the_headers_and_no_body(server: Server, hashed_css: str) -> None:
    _, get_headers, _ = request(server, hashed_css, headers={"Accept-Encoding": "gzip"})
    status, headers, body = request(
        server, hashed_css, method="HEAD", headers={"Accept-Encoding": "gzip"}
    )
    assert (status, body) == (200, b"")
    assert headers["Content-Length"] == get_headers["Content-Length"]
    assert headers["ETag"] == get_headers["ETag"]


def test_other_methods_are_not_allowed(server: Server, hashed_css: str) -> None:
    status, headers, _ = request(server, hashed_css, method="POST")
    assert status == 405
    assert headers["Allow"] == "GET, HEAD"
