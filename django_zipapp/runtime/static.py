"""Static files served from the extracted archive, in front of Django."""

from __future__ import annotations

import json
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

    return WhiteNoise(
        application,
        # A site without static files has no collected directory; whitenoise would warn.
        root=str(static_root) if static_root.is_dir() else None,
        prefix=prefix,
        max_age=SHORT_MAX_AGE,
        add_headers_function=add_headers,
        immutable_file_test=is_immutable,
    )


def read_static_index(site_packages: Path) -> dict[str, Any]:
    path = site_packages / STATIC_INDEX_NAME
    if not path.is_file():
        return {}
    result: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return result
