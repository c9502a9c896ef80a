"""What the verification requests from the new archive's server, and what it accepts.

Each start URL is requested; a redirect to the same site (a path, or a URL of the Host
the requests carry) is followed, as a browser would, so that a home page that sends
visitors to a login page proves the login page too. Every static and media URL that an
HTML page links (stylesheets, scripts, images, icons) is requested once. Every request
goes to the server on 127.0.0.1, whatever a page names: a URL of another site is never
followed. Pages and files are counted against small budgets, so that a site with many
redirects or a page with thousands of images stays a few seconds of the build.
"""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from email.message import Message
from html.parser import HTMLParser
from http.client import HTTPException
from typing import Protocol
from urllib.parse import urljoin, urlsplit

MAX_PAGES = 20
MAX_FILES = 200
MAX_PAGE_BYTES = 5_000_000  # of HTML read to find links; a file is read whole, then dropped
REDIRECTS = frozenset({301, 302, 303, 307, 308})
# The attributes that name a file a page needs to look right, by tag.
LINKING = {
    "link": ("href",),
    "script": ("src",),
    "img": ("src", "srcset"),
    "source": ("src", "srcset"),
    "video": ("src", "poster"),
    "audio": ("src",),
    "input": ("src",),
}
# Whitenoise's ManifestStaticFilesStorage, for a {% static %} name collectstatic did not produce.
MISSING_MANIFEST = re.compile(r"Missing staticfiles manifest entry for '([^']+)'")


class NoAnswer(Exception):
    """The server closed the connection or did not answer in time."""


@dataclass(frozen=True)
class Answer:
    status: int
    location: str
    html: str  # the body of an HTML page; empty for anything else


@dataclass
class Visit:
    """What the verification requested, and the first thing that failed."""

    pages: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    failure: str | None = None
    notes: list[str] = field(default_factory=list)
    # Pages that answered 400 Bad Request: to a Host that ALLOWED_HOSTS does not list,
    # Django answers every page so, and none of them was really rendered.
    bad_requests: list[str] = field(default_factory=list)


class Site:
    """The server under test, asked as the site's own host over HTTPS when it expects that."""

    def __init__(self, base: str, host: str, https_header: tuple[str, str] | None) -> None:
        self.base = base
        self.host = host
        self.headers = {"Host": host, **(dict([https_header]) if https_header else {})}
        self.opener = urllib.request.build_opener(_NoRedirect)

    def get(self, path: str) -> Answer:
        """The answer, an error status included; NoAnswer when there is none."""
        request = urllib.request.Request(self.base + path, headers=self.headers)
        try:
            with self.opener.open(request, timeout=60) as response:
                return _answer(response.status, response.headers, response)
        except urllib.error.HTTPError as error:
            with error:
                return _answer(error.code, error.headers, error)
        except (OSError, HTTPException) as exc:  # a worker that died, a timeout
            raise NoAnswer(f"GET {path} got no answer ({type(exc).__name__}: {exc})") from None

    def same_site_path(self, url: str, page: str) -> str | None:
        """The path and query of url, linked from page, when it is this site's; else None."""
        parts = urlsplit(urljoin(f"http://{self.host}{page}", url))
        if parts.scheme not in ("http", "https") or parts.netloc != self.host:
            return None
        return parts.path + (f"?{parts.query}" if parts.query else "")


def visit(site: Site, urls: Sequence[str], file_prefixes: dict[str, str]) -> Visit:
    """Request urls and what they lead to; file_prefixes: URL prefix -> "static"/"media"."""
    found = Visit()
    try:
        _visit(site, urls, file_prefixes, found)
    except NoAnswer as exc:
        found.failure = str(exc)
    return found


def _visit(site: Site, urls: Sequence[str], file_prefixes: dict[str, str], found: Visit) -> None:
    linked: dict[str, str] = {}  # file -> the page that links it first
    for url in urls:
        _follow(site, url, found, linked, file_prefixes)
        if found.failure:
            return
    for path, page in linked.items():
        if len(found.files) >= MAX_FILES:
            found.notes.append(f"{len(linked) - MAX_FILES} more linked files were not requested")
            break
        _request_file(site, path, page, found, _kind(path, file_prefixes))
        if found.failure:
            return


def _follow(
    site: Site, start: str, found: Visit, linked: dict[str, str], prefixes: dict[str, str]
) -> None:
    path, seen = start, {start}
    while len(found.pages) < MAX_PAGES:
        answer = site.get(path)
        found.pages.append(path)
        via = "" if path == start else f" (where {start} redirects)"
        if answer.status >= 500 or (via and answer.status in (404, 410)):
            found.failure = f"GET {path}{via} answered {answer.status}"
            return
        if answer.status == 400:
            found.bad_requests.append(path)
        for url in _links(answer.html):
            file = site.same_site_path(url, path)
            if file is not None and _kind(file, prefixes):
                linked.setdefault(file, path)
        following = site.same_site_path(answer.location, path) if answer.location else None
        if answer.status not in REDIRECTS or following is None or following in seen:
            return
        path = following
        seen.add(path)


def _request_file(site: Site, path: str, page: str, found: Visit, kind: str) -> None:
    status = site.get(path).status
    found.files.append(path)
    if status >= 500 or (kind == "static" and status >= 400):
        what = "a static file collectstatic did not produce" if status == 404 else "a file"
        found.failure = f"GET {path}, {what} that {page} links, answered {status}"
    elif status >= 400:
        # The verification's MEDIA_ROOT starts empty: an upload a page names is not there.
        found.notes.append(f"GET {path}, a media file that {page} links, answered {status}")


def _kind(path: str, prefixes: dict[str, str]) -> str:
    return next((kind for prefix, kind in prefixes.items() if path.startswith(prefix)), "")


def file_prefixes(static_url: str | None, media_url: str | None, host: str) -> dict[str, str]:
    """The path prefixes of the settings' STATIC_URL and MEDIA_URL that this site serves."""
    prefixes = {}
    for url, kind in ((media_url, "media"), (static_url, "static")):
        parts = urlsplit(url or "")
        if parts.netloc and parts.netloc != host:  # a CDN: not this server's to answer
            continue
        path = "/" + parts.path.lstrip("/")
        if path != "/":
            prefixes[path] = kind
    return prefixes


def missing_manifest_entries(output: str) -> list[str]:
    """The static names the server's output says have no manifest entry."""
    return list(dict.fromkeys(MISSING_MANIFEST.findall(output)))


class _Body(Protocol):
    def read(self, amount: int, /) -> bytes: ...


def _answer(status: int, headers: Message, body: _Body) -> Answer:
    html = ""
    if headers.get("Content-Type", "").startswith("text/html"):
        html = body.read(MAX_PAGE_BYTES).decode("utf-8", errors="replace")
    else:
        while body.read(1 << 20):
            pass
    return Answer(status, headers.get("Location", ""), html)


def _links(html: str) -> Iterable[str]:
    if not html:
        return []
    parser = _LinkParser()
    parser.feed(html)
    parser.close()
    return parser.links


class _LinkParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = LINKING.get(tag, ())
        for name, value in attrs:
            if name in wanted and value:
                if name.endswith("srcset"):
                    self.links += [item.split()[0] for item in value.split(",") if item.split()]
                else:
                    self.links.append(value.strip())


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # The crawl follows a redirect itself, to the server under test only.
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None
