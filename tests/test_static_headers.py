"""whitenoise in front of the site, fed with the index the builder writes."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from django_zipapp.builder.static import compress_tree, static_index
from django_zipapp.runtime.static import SMALL_FILE, wrap_with_static

BUILT_AT = 1_767_225_600  # 2026-01-01 00:00:00 UTC
CSS = "body { color: #123456; }\n" * 200


def django_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"from django"]


@pytest.fixture
def static_root(tmp_path: Path) -> Path:
    root = tmp_path / "extraction-a" / "staticfiles"
    (root / "css").mkdir(parents=True)
    (root / "css/site.css").write_text(CSS)
    (root / "css/site.0123456789ab.css").write_text(CSS)
    manifest = {"paths": {"css/site.css": "css/site.0123456789ab.css"}, "version": "1.1"}
    (root / "staticfiles.json").write_text(json.dumps(manifest))
    compress_tree(root)
    return root


def request(app: Any, path: str, **headers: str) -> tuple[str, dict[str, str], bytes]:
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path, **headers}
    captured: dict[str, Any] = {}

    def start_response(status: str, header_list: list[tuple[str, str]]) -> None:
        captured["status"], captured["headers"] = status, dict(header_list)

    iterable = app(environ, start_response)
    try:
        body = b"".join(iterable)
    finally:
        # A WSGI server closes what the application returned; whitenoise's files with it.
        if hasattr(iterable, "close"):
            iterable.close()
    return captured["status"], captured["headers"], body


def app_for(root: Path) -> Any:
    return wrap_with_static(
        django_app, static_root=root, static_url="/static/", index=static_index(root, BUILT_AT)
    )


def test_hashed_file_is_immutable_and_gzipped(static_root: Path) -> None:
    status, headers, body = request(
        app_for(static_root), "/static/css/site.0123456789ab.css", HTTP_ACCEPT_ENCODING="gzip"
    )
    assert status == "200 OK"
    assert headers["Cache-Control"] == "max-age=315360000, public, immutable"
    assert headers["Content-Encoding"] == "gzip"
    assert headers["Vary"] == "Accept-Encoding"
    assert headers["Last-Modified"] == "Thu, 01 Jan 2026 00:00:00 GMT"
    assert gzip.decompress(body).decode() == CSS


def test_unhashed_file_is_short_lived(static_root: Path) -> None:
    _, headers, body = request(app_for(static_root), "/static/css/site.css")
    assert headers["Cache-Control"] == "max-age=60, public"
    assert "Content-Encoding" not in headers
    assert body.decode() == CSS


def test_etag_is_the_same_in_every_extraction(static_root: Path, tmp_path: Path) -> None:
    other = tmp_path / "extraction-b" / "staticfiles"
    shutil.copytree(static_root, other)
    for path in other.rglob("*"):
        os.utime(path, (1_000_000_000, 1_000_000_000))  # another host, another clock
    url = "/static/css/site.0123456789ab.css"
    _, first, _ = request(app_for(static_root), url)
    _, second, _ = request(app_for(other), url)
    assert first["ETag"] == second["ETag"]
    assert first["Last-Modified"] == second["Last-Modified"]


def test_if_none_match_is_not_modified(static_root: Path) -> None:
    app = app_for(static_root)
    _, headers, _ = request(app, "/static/css/site.css")
    status, _, body = request(app, "/static/css/site.css", HTTP_IF_NONE_MATCH=headers["ETag"])
    assert status == "304 Not Modified"
    assert body == b""


def test_other_paths_reach_django(static_root: Path) -> None:
    assert request(app_for(static_root), "/")[2] == b"from django"
    assert request(app_for(static_root), "/static/../settings.py")[2] == b"from django"
    assert request(app_for(static_root), "/static/staticfiles.json")[2] == b"from django"
    assert request(app_for(static_root), "/static/css/site.css.gz")[2] == b"from django"


def test_range_and_head(static_root: Path) -> None:
    app = app_for(static_root)
    status, headers, body = request(app, "/static/css/site.css", HTTP_RANGE="bytes=0-3")
    assert (status, headers["Content-Range"], body) == (
        "206 Partial Content",
        f"bytes 0-3/{len(CSS)}",
        b"body",
    )
    status, headers, body = request(
        app, "/static/css/site.css", REQUEST_METHOD="HEAD", HTTP_ACCEPT_ENCODING="br, gzip"
    )
    assert (status, headers["Content-Encoding"], body) == ("200 OK", "br", b"")
    assert headers["Content-Type"] == 'text/css; charset="utf-8"'


def test_index_skips_compressed_siblings_and_the_manifest(static_root: Path) -> None:
    index = static_index(static_root, BUILT_AT)
    assert sorted(index["files"]) == ["css/site.0123456789ab.css", "css/site.css"]
    assert index["files"]["css/site.0123456789ab.css"]["immutable"] is True
    assert index["files"]["css/site.css"]["immutable"] is False


def test_a_name_that_carries_its_contents_hash_is_immutable(static_root: Path) -> None:
    # No manifest lists them: django-compressor's offline output (SHA-256), a build
    # command's hashed file (MD5), and a name that only looks hashed.
    body = b"p { margin: 0 }\n"
    sha256, md5 = hashlib.sha256(body).hexdigest()[:12], hashlib.md5(body).hexdigest()[:12]
    (static_root / "CACHE/css").mkdir(parents=True)
    (static_root / f"CACHE/css/output.{sha256}.css").write_bytes(body)
    (static_root / f"css/vendor.{md5}.css").write_bytes(body)
    (static_root / "css/fake.0123456789ab.css").write_bytes(body)
    files = static_index(static_root, BUILT_AT)["files"]
    assert files[f"CACHE/css/output.{sha256}.css"]["immutable"] is True
    assert files[f"css/vendor.{md5}.css"]["immutable"] is True
    assert files["css/fake.0123456789ab.css"]["immutable"] is False


def test_a_site_without_static_files(tmp_path: Path) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        app = wrap_with_static(
            django_app, static_root=tmp_path / "missing", static_url="/static/", index={}
        )
    assert request(app, "/static/x.css")[2] == b"from django"


def test_repeated_requests_get_the_same_answers(static_root: Path) -> None:
    # The second of each is answered from what the first left in memory.
    app = app_for(static_root)
    url = "/static/css/site.0123456789ab.css"
    for headers in ({}, {"HTTP_ACCEPT_ENCODING": "gzip"}, {"HTTP_ACCEPT_ENCODING": "br"}):
        first, second = request(app, url, **headers), request(app, url, **headers)
        assert first == second
        assert first[0] == "200 OK"
    _, full, _ = request(app, url)
    assert request(app, url, HTTP_IF_NONE_MATCH=full["ETag"])[0] == "304 Not Modified"
    assert request(app, url, HTTP_RANGE="bytes=5-9")[2] == CSS[5:10].encode()
    assert request(app, url, REQUEST_METHOD="HEAD")[2] == b""


def test_a_large_file_is_sent_from_disk(static_root: Path) -> None:
    big = "x" * (SMALL_FILE + 1)
    (static_root / "big.txt").write_text(big)
    app = app_for(static_root)
    for _ in range(2):
        status, _, body = request(app, "/static/big.txt", HTTP_RANGE="bytes=-3")
        assert (status, body) == ("206 Partial Content", b"xxx")
        assert request(app, "/static/big.txt")[2].decode() == big
