"""User uploads: MEDIA_URL answered from MEDIA_ROOT, a folder outside the archive.

Looked up on every request (no index made at start): a file uploaded a second ago is
served. whitenoise's StaticFile answers each one, so HEAD, Range and the conditional
requests behave as they do for the static files.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from whitenoise import WhiteNoise
from whitenoise.media_types import MediaTypes
from whitenoise.responders import StaticFile

from .static import static_prefix

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

# Short and revalidated: an upload can be replaced under the same name at any time.
CACHE_CONTROL = "max-age=60, must-revalidate"
# What a browser only ever displays: no script runs from these, opened or embedded.
# Every other type (HTML, XHTML, SVG, XML, JavaScript, PDF, unknown...) is sent as an
# attachment, so that opening its URL downloads it instead of running it in the origin.
PASSIVE_PREFIXES = ("image/", "audio/", "video/", "font/")
PASSIVE_TYPES = frozenset({"text/plain", "text/csv", "application/json"})
ACTIVE_IMAGES = frozenset({"image/svg+xml"})
# On every answer: even a browser that ignores the attachment (or a file embedded in an
# <iframe>/<object>) runs it in a unique, opaque origin with scripts off.
SANDBOX = "sandbox"
NOT_FOUND = ("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "9")])

MEDIA_TYPES = MediaTypes()


def is_passive(content_type: str) -> bool:
    if content_type in ACTIVE_IMAGES:
        return False
    return content_type in PASSIVE_TYPES or content_type.startswith(PASSIVE_PREFIXES)


def media_headers(path: str) -> list[tuple[str, str]]:
    content_type = MEDIA_TYPES.get_type(path)
    headers = [
        ("Content-Type", content_type),
        ("Cache-Control", CACHE_CONTROL),
        ("X-Content-Type-Options", "nosniff"),
        ("Content-Security-Policy", SANDBOX),
    ]
    if not is_passive(content_type):
        headers.append(("Content-Disposition", "attachment"))
    return headers


def find_upload(root: str, relative: str) -> str | None:
    """The real path of a regular file inside root named by relative, else None.

    relative is PATH_INFO after the prefix, as WSGI gives it (UTF-8 bytes as latin-1),
    decoded once by the server already. A name that a second decoding could change
    (%2e) does not exist on disk as written, and is not found.
    """
    try:
        name = relative.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return None
    parts = name.split("/")
    # No dot segments, no dotfiles or dot-directories, no empty segment (a trailing
    # slash, a doubled one), no backslash or NUL that some layer might read otherwise.
    if any(not part or part.startswith(".") or "\\" in part or "\0" in part for part in parts):
        return None
    real_root = os.path.realpath(root)
    candidate = os.path.realpath(os.path.join(real_root, *parts))
    # Symlinks are followed, and what they lead to must still be inside the root.
    if not candidate.startswith(real_root + os.sep) or not os.path.isfile(candidate):
        return None
    return candidate


class MediaFiles:
    """A WSGI application: uploads under prefix, everything else to application."""

    def __init__(self, application: Callable[..., Any], *, root: Path, prefix: str) -> None:
        self.application = application
        self.root = str(root)
        self.prefix = prefix

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        path_info: str = environ.get("PATH_INFO", "")
        if not path_info.startswith(self.prefix):
            result: Iterable[bytes] = self.application(environ, start_response)
            return result
        path = find_upload(self.root, path_info[len(self.prefix) :])
        if path is None:
            start_response(*NOT_FOUND)
            return [b"Not Found"]
        try:
            upload = StaticFile(path, media_headers(path))
        except FileNotFoundError:  # removed between the look-up and now
            start_response(*NOT_FOUND)
            return [b"Not Found"]
        served: Iterable[bytes] = WhiteNoise.serve(upload, environ, start_response)
        return served


def media_prefix(media_url: str) -> str | None:
    """MEDIA_URL's path when it is a path on this site, else None (a CDN, object storage)."""
    if not media_url or "://" in media_url or media_url.startswith("//"):
        return None
    prefix = static_prefix(media_url)
    return None if prefix == "/" else prefix


def wrap_with_media(application: Callable[..., Any], extraction: Path) -> Callable[..., Any]:
    """MediaFiles in front of application, unless the settings say media is elsewhere."""
    from django.conf import settings

    from .logs import notice

    prefix = media_prefix(str(settings.MEDIA_URL or ""))
    root = str(settings.MEDIA_ROOT or "")
    if not getattr(settings, "ZIPAPP_SERVE_MEDIA", True) or prefix is None or not root:
        return application
    if not _default_storage_on_disk():
        return application  # object storage (django-storages...): uploads are not here
    if Path(root).resolve().is_relative_to(extraction.resolve()):
        notice(
            f"MEDIA_URL is not served: MEDIA_ROOT {root!r} is inside the archive's "
            "extraction, which the next deploy replaces. Point MEDIA_ROOT at the state "
            "directory (ZipappConfig's MEDIA_ROOT)."
        )
        return application
    return MediaFiles(application, root=Path(root), prefix=prefix)


def _default_storage_on_disk() -> bool:
    from django.core.files.storage import FileSystemStorage, storages
    from django.utils.module_loading import import_string

    default = cast("dict[str, Any]", storages.backends.get("default", {}))
    try:
        return issubclass(import_string(default.get("BACKEND", "")), FileSystemStorage)
    except ImportError:
        return False
