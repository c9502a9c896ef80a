"""Static files served from the extracted archive, in front of Django."""

from __future__ import annotations

import json
import os
from email.utils import formatdate
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from whitenoise import WhiteNoise

if TYPE_CHECKING:
    from collections.abc import Callable
    from wsgiref.headers import Headers

    from django.core.handlers.wsgi import WSGIHandler

# Written by the builder beside the collected files, read once when the server starts.
STATIC_INDEX_NAME = "_zipapp/static.json"
SHORT_MAX_AGE = 60


def static_prefix(static_url: str) -> str:
    path = urlsplit(static_url).path
    return "/" + path.strip("/") + "/"


def wrap_with_static(
    application: WSGIHandler | Callable[..., Any],
    *,
    static_root: Path,
    static_url: str,
    index: dict[str, Any],
) -> WhiteNoise:
    """Answer requests under STATIC_URL before they reach Django.

    whitenoise derives Last-Modified and ETag from file mtimes, which extraction resets;
    the index carries content hashes and the build time instead, so every host that runs
    the same archive sends the same validators.
    """
    prefix = static_prefix(static_url)
    files: dict[str, dict[str, Any]] = index.get("files", {})
    last_modified = formatdate(index.get("built_at", 0), usegmt=True)

    def entry(url: str) -> dict[str, Any] | None:
        return files.get(url[len(prefix) :]) if url.startswith(prefix) else None

    def add_headers(headers: Headers, path: str, url: str) -> None:
        known = entry(url)
        if known is not None:
            headers["Last-Modified"] = last_modified
            headers["ETag"] = known["etag"]

    def is_immutable(path: str, url: str) -> bool:
        known = entry(url)
        return bool(known and known.get("immutable"))

    # No root: whitenoise would scan the tree and serve whatever it finds there (the
    # manifest included). The index names exactly the files to serve, decided at build time.
    static = WhiteNoise(
        application,
        prefix=prefix,
        max_age=SHORT_MAX_AGE,
        add_headers_function=add_headers,
        immutable_file_test=is_immutable,
    )
    add_indexed_files(static, static_root, prefix, files)
    return static


def add_indexed_files(
    static: WhiteNoise, root: Path, prefix: str, files: dict[str, dict[str, Any]]
) -> None:
    """Each indexed file once, its headers and encodings worked out now, not per request."""
    for name in files:
        path = os.path.join(root, name)
        stats = {}
        for candidate in (path, path + ".gz", path + ".br"):
            try:
                stats[candidate] = os.stat(candidate)
            except FileNotFoundError:
                continue
        if path in stats:
            static.add_file_to_dictionary(prefix + name, path, stat_cache=stats)


def read_static_index(site_packages: Path) -> dict[str, Any]:
    path = site_packages / STATIC_INDEX_NAME
    if not path.is_file():
        return {}
    result: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return result
