"""Static files served from the extracted archive, in front of Django."""

from __future__ import annotations

import json
import os
import re
from email.utils import formatdate
from http import HTTPStatus
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
# WHITENOISE_ROOT's files (favicon.ico, robots.txt), copied by the builder, served at "/".
ROOT_FILES_DIR = "_zipapp/root"
SHORT_MAX_AGE = 60
# Files up to this size are answered from memory once a worker has read them: one write
# per request instead of open, lseek, sendfile and close. Larger files are sent with
# sendfile, whose cost per byte wins. Read in each worker, only when asked for.
SMALL_FILE = 64 * 1024
MEMORY_BUDGET = 16 * 1024 * 1024  # per worker process
# Whole answers to plain GETs, by path and Accept-Encoding: a hit is two dictionary
# lookups. Bounded, since clients choose Accept-Encoding freely.
KNOWN_ANSWERS = 4096
# Headers that make an answer depend on more than the path and Accept-Encoding.
CONDITIONAL = ("HTTP_RANGE", "HTTP_IF_NONE_MATCH", "HTTP_IF_MODIFIED_SINCE")


class ArchiveStatic(WhiteNoise):  # type: ignore[misc]  # whitenoise ships no types
    """whitenoise's responses (304, Range, HEAD, encodings), small bodies from memory."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.bodies: dict[str, bytes] = {}
        self.large: set[str] = set()
        self.budget = MEMORY_BUDGET
        self.answers: dict[tuple[str, str], tuple[str, list[tuple[str, str]], bytes]] = {}

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        key = _plain_get(environ)
        known = self.answers.get(key) if key else None
        if known is None:
            return super().__call__(environ, start_response)
        start_response(known[0], known[1])
        return [known[2]]

    def serve(  # whitenoise's is a staticmethod, called through self
        self, static_file: Any, environ: dict[str, Any], start_response: Any
    ) -> Any:
        if environ["REQUEST_METHOD"] != "GET":
            return WhiteNoise.serve(static_file, environ, start_response)
        # Status and headers as whitenoise decides them for a GET, without opening the file.
        response = static_file.get_response("HEAD", environ)
        body = b""
        if response.status in (HTTPStatus.OK, HTTPStatus.PARTIAL_CONTENT):
            path, _ = static_file.get_path_and_headers(environ)
            whole = self.body(path)
            if whole is None:
                return WhiteNoise.serve(static_file, environ, start_response)
            body = _part(whole, response.headers) if response.status == 206 else whole
        status, headers = f"{response.status} {response.status.phrase}", list(response.headers)
        key = _plain_get(environ)
        if key and response.status == HTTPStatus.OK and len(self.answers) < KNOWN_ANSWERS:
            self.answers[key] = (status, headers, body)
        start_response(status, headers)
        return [body]

    def body(self, path: str) -> bytes | None:
        body = self.bodies.get(path)
        if body is not None or path in self.large:
            return body
        with open(path, "rb") as file:
            body = file.read(SMALL_FILE + 1)
        if len(body) > min(SMALL_FILE, self.budget):
            self.large.add(path)
            return None
        self.bodies[path] = body
        self.budget -= len(body)
        return body


def _plain_get(environ: dict[str, Any]) -> tuple[str, str] | None:
    if environ["REQUEST_METHOD"] != "GET" or any(name in environ for name in CONDITIONAL):
        return None
    return environ.get("PATH_INFO", ""), environ.get("HTTP_ACCEPT_ENCODING", "")


def _part(body: bytes, headers: list[tuple[str, str]]) -> bytes:
    content_range = next(value for name, value in headers if name == "Content-Range")
    start, end = content_range.split()[1].split("/")[0].split("-")
    return body[int(start) : int(end) + 1]


def static_prefix(static_url: str) -> str:
    path = urlsplit(static_url).path
    return "/" + path.strip("/") + "/"


def wrap_with_static(
    application: WSGIHandler | Callable[..., Any],
    *,
    static_root: Path,
    static_url: str,
    index: dict[str, Any],
    max_age: int | None = SHORT_MAX_AGE,
    immutable_file_test: Callable[[str, str], bool] | str | None = None,
    add_headers_function: Callable[[Headers, str, str], None] | None = None,
    root_files: Path | None = None,
    **whitenoise_options: Any,
) -> WhiteNoise:
    """Answer requests under STATIC_URL before they reach Django.

    whitenoise derives Last-Modified and ETag from file mtimes, which extraction resets;
    the index carries content hashes and the build time instead, so every host that runs
    the same archive sends the same validators. whitenoise_options (allow_all_origins,
    charset, mimetypes, index_file) go to whitenoise as they are. root_files: the folder
    of WHITENOISE_ROOT's files, answered at the site's root as whitenoise's middleware
    answers them.
    """
    prefix = static_prefix(static_url)
    files: dict[str, dict[str, Any]] = index.get("files", {})
    at_root: dict[str, dict[str, Any]] = index.get("root", {}) if root_files else {}
    last_modified = formatdate(index.get("built_at", 0), usegmt=True)
    project_test = _immutable_test(immutable_file_test)

    def entry(url: str) -> dict[str, Any] | None:
        if url.startswith(prefix):
            return files.get(url[len(prefix) :])
        return at_root.get(url[1:])

    def add_headers(headers: Headers, path: str, url: str) -> None:
        known = entry(url)
        if known is not None:
            headers["Last-Modified"] = last_modified
            headers["ETag"] = known["etag"]
        if add_headers_function is not None:
            add_headers_function(headers, path, url)

    def is_immutable(path: str, url: str) -> bool:
        # Hashed names, known at build time, always; and what the project declares.
        known = entry(url)
        return bool(known and known.get("immutable")) or project_test(path, url)

    # No root: whitenoise would scan the tree and serve whatever it finds there (the
    # manifest included). The index names exactly the files to serve, decided at build time.
    static = ArchiveStatic(
        application,
        prefix=prefix,
        max_age=max_age,
        add_headers_function=add_headers,
        immutable_file_test=is_immutable,
        **whitenoise_options,
    )
    add_indexed_files(static, static_root, prefix, files)
    if root_files is not None:
        add_indexed_files(static, root_files, "/", at_root)
    return static


def _immutable_test(test: Callable[[str, str], bool] | str | None) -> Callable[[str, str], bool]:
    # As whitenoise reads WHITENOISE_IMMUTABLE_FILE_TEST: a callable, or a regex on the URL.
    if test is None:
        return lambda path, url: False
    if callable(test):
        return test
    pattern = re.compile(test)
    return lambda path, url: bool(pattern.search(url))


# WHITENOISE_* settings that shape a response, as WhiteNoiseMiddleware reads them, by the
# keyword of wrap_with_static they map onto. (Its DEBUG-dependent defaults do not apply:
# serve refuses DEBUG.)
WHITENOISE_SETTINGS = {
    "MAX_AGE": "max_age",
    "IMMUTABLE_FILE_TEST": "immutable_file_test",
    "ADD_HEADERS_FUNCTION": "add_headers_function",
    "MIMETYPES": "mimetypes",
    "ALLOW_ALL_ORIGINS": "allow_all_origins",
    "CHARSET": "charset",
    "INDEX_FILE": "index_file",
}


def archive_static(
    application: WSGIHandler | Callable[..., Any], site_packages: Path, settings: Any
) -> WhiteNoise:
    """wrap_with_static for the archive unpacked at site_packages, from the site's settings:
    the one place the WSGI and the ASGI servers take their static files from."""
    return wrap_with_static(
        application,
        static_root=Path(str(settings.STATIC_ROOT)),
        static_url=static_url_path(settings),
        index=read_static_index(site_packages),
        root_files=site_packages / ROOT_FILES_DIR,
        **whitenoise_options(settings),
    )


def whitenoise_options(settings: Any) -> dict[str, Any]:
    """The project's WHITENOISE_* settings that are set, as wrap_with_static keywords."""
    return {
        keyword: getattr(settings, f"WHITENOISE_{name}")
        for name, keyword in WHITENOISE_SETTINGS.items()
        if hasattr(settings, f"WHITENOISE_{name}")
    }


def static_url_path(settings: Any) -> str:
    """Where static files are answered: WHITENOISE_STATIC_PREFIX, else STATIC_URL's path
    without FORCE_SCRIPT_NAME (gunicorn takes SCRIPT_NAME off PATH_INFO)."""
    explicit = getattr(settings, "WHITENOISE_STATIC_PREFIX", None)
    if explicit is not None:
        return str(explicit)
    path = urlsplit(str(settings.STATIC_URL or "")).path
    script_name = str(getattr(settings, "FORCE_SCRIPT_NAME", None) or "").rstrip("/")
    if script_name and path.startswith(script_name):
        path = path[len(script_name) :]
    return path


MIDDLEWARE_CLASS = "whitenoise.middleware.WhiteNoiseMiddleware"


def drop_whitenoise_middleware(settings: Any) -> str | None:
    """Take whitenoise's middleware (or a subclass) out of MIDDLEWARE; its dotted path.

    The archive answers STATIC_URL from its index before Django: the middleware would
    only serve what the index leaves out on purpose (the manifest), with an ETag from the
    extraction's mtimes.
    """
    import django
    from django.utils.module_loading import import_string

    # The apps first, as the WSGI handler would: middleware modules may import models.
    django.setup(set_prefix=False)
    from whitenoise.middleware import WhiteNoiseMiddleware

    def is_whitenoise(dotted: str) -> bool:
        if dotted == MIDDLEWARE_CLASS:
            return True
        try:
            found = import_string(dotted)
        except ImportError:
            return False  # Django names the broken one itself when it loads the chain
        return isinstance(found, type) and issubclass(found, WhiteNoiseMiddleware)

    middleware = list(settings.MIDDLEWARE)
    dropped = [dotted for dotted in middleware if is_whitenoise(dotted)]
    if dropped:
        settings.MIDDLEWARE = [dotted for dotted in middleware if dotted not in dropped]
    return ", ".join(dropped) or None


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
