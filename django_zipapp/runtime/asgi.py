"""``serve`` under ASGI: the site's ASGI application in gunicorn's uvicorn worker.

Static files and uploads are answered by the same WSGI code as under WSGI (same headers,
ETags, 304s, ranges and 404s), through asgiref's ``WsgiToAsgi``, the adapter Django's own
dependency documents. whitenoise has no ASGI interface of its own (6.12). A plain GET of a
static file the worker has already answered once is sent from memory without leaving the
event loop.
"""

from __future__ import annotations

import importlib.util
from functools import partial
from typing import TYPE_CHECKING, Any

from .config import ConfigError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, MutableMapping

    from .archive import Archive
    from .static import ArchiveStatic

    Scope = MutableMapping[str, Any]
    Receive = Callable[[], Awaitable[dict[str, Any]]]
    Send = Callable[[dict[str, Any]], Awaitable[None]]
    ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# uvicorn-worker's class (uvicorn's server in a gunicorn worker, on gunicorn's sockets),
# with a shutdown that loses no connection on a reload.
WORKER_CLASS = "django_zipapp.runtime.asgi_worker.ArchiveWorker"
WORKER_PACKAGE = "uvicorn_worker"


def require_worker() -> None:
    """A clear refusal when the archive was built without the ASGI worker."""
    if importlib.util.find_spec(WORKER_PACKAGE) is None:
        raise ConfigError(
            "serve was asked to run ASGI, but this archive holds no ASGI worker "
            "(uvicorn-worker). Set ZIPAPP_ASGI = True in the settings and build it again, "
            "or serve it under WSGI (serve --wsgi)."
        )


def load_site_application() -> Any:
    """ASGI_APPLICATION (as Channels and Daphne read it), else the asgi module beside
    WSGI_APPLICATION's (startproject's asgi.py), else Django's own handler."""
    from django.conf import settings
    from django.core.asgi import get_asgi_application
    from django.utils.module_loading import import_string

    named = getattr(settings, "ASGI_APPLICATION", None)
    if named:
        return import_string(named)
    wsgi = str(getattr(settings, "WSGI_APPLICATION", None) or "")
    package, _, module = wsgi.rpartition(".")[0].rpartition(".")
    if module == "wsgi" and package and importlib.util.find_spec(f"{package}.asgi") is not None:
        return import_string(f"{package}.asgi.application")
    return get_asgi_application()


def asgi_application(archive: Archive) -> Any:
    from django.conf import settings
    from django.db import connections

    from .loading import (
        drop_middleware_and_say,
        freeze_what_was_loaded,
        load_what_first_requests_load,
    )
    from .logs import keep_logs
    from .media import MediaFiles, wrap_with_media
    from .static import archive_static

    drop_middleware_and_say(settings)
    application = load_site_application()
    keep_logs()
    load_what_first_requests_load()
    connections.close_all()
    media = wrap_with_media(_not_found, archive.site_packages.parent.parent)
    static = archive_static(_not_found, archive.site_packages, settings)
    routed = ArchiveFiles(application, static, media if isinstance(media, MediaFiles) else None)
    freeze_what_was_loaded()
    return routed


def _not_found(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    # Never reached: ArchiveFiles hands a request to the WSGI side only for a path it serves.
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"Not Found"]


class ArchiveFiles:
    """An ASGI application: static files and uploads from the WSGI side, the rest to the site.

    A static path the index does not hold goes to the site, as under WSGI (Django's 404);
    WHITENOISE_ROOT's files are in the index at the site's root.
    """

    def __init__(self, site: ASGIApp, static: ArchiveStatic, media: Any | None) -> None:
        from asgiref.wsgi import WsgiToAsgi

        self.site = site
        self.static = static
        self.static_adapter: ASGIApp = WsgiToAsgi(static)  # type: ignore[no-untyped-call]
        self.media_prefix: str | None = None if media is None else media.prefix
        self.media_adapter: ASGIApp = WsgiToAsgi(media or _not_found)  # type: ignore[no-untyped-call]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.route(scope)(scope, receive, send)

    def route(self, scope: Scope) -> ASGIApp:
        if scope["type"] != "http":
            return self.site  # websockets, lifespan
        path = _path(scope)
        if path in self.static.files:
            key = _plain_get(scope, path)
            known = self.static.answers.get(key) if key is not None else None
            if known is not None:
                return partial(_send_known, known)
            return self.static_adapter
        if self.media_prefix is not None and path.startswith(self.media_prefix):
            return self.media_adapter
        return self.site


def _path(scope: Scope) -> str:
    # Without the mount point, as PATH_INFO is (uvicorn includes root_path in path).
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


CONDITIONAL = (b"range", b"if-none-match", b"if-modified-since")


def _plain_get(scope: Scope, path: str) -> tuple[str, str] | None:
    """The key of ArchiveStatic's answers (PATH_INFO as WSGI has it, Accept-Encoding)."""
    if scope["method"] != "GET":
        return None
    accept = ""
    for name, value in scope["headers"]:
        if name in CONDITIONAL:
            return None
        if name == b"accept-encoding":
            accept = f"{accept},{value.decode('latin-1')}" if accept else value.decode("latin-1")
    return path.encode("utf-8").decode("latin-1"), accept


async def _send_known(
    known: tuple[str, list[tuple[str, str]], bytes], scope: Scope, receive: Receive, send: Send
) -> None:
    status, headers, body = known
    raw = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]
    await send({"type": "http.response.start", "status": int(status[:3]), "headers": raw})
    await send({"type": "http.response.body", "body": body})
