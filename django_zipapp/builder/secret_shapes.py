"""Secrets by their shape: private keys, and passwords and keys written in URLs.

The scan costs time linear in the size of what it reads, whatever the content. Each shape
is anchored on a literal that `bytes.find` locates ("-----BEGIN ", "://"), and every pattern
applied at an anchor has bounded quantifiers only, so each anchor reads a bounded number of
bytes. Patterns searched over whole files instead (an unbounded `[a-z][a-z0-9+.-]*://` tried
at every position) re-read the rest of a long word or line from each position: a 40 KB
minified line took half a minute.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

KEY_HEADER = b"-----BEGIN "
# The words between BEGIN and PRIVATE KEY ("RSA", "OPENSSH", "ENCRYPTED"): few and short.
KEY_HEADER_REST = re.compile(rb"(?:[A-Z0-9]{1,32} ){0,8}PRIVATE KEY-----")

SEPARATOR = b"://"
SCHEME_LENGTH = 32  # the longest scheme looked back for ("postgresql+psycopg" is 18)
SCHEME = re.compile(rb"[a-z][a-z0-9+.-]*\Z", re.I)
# user:password@host right after "://". The bounds are far above real user names and
# passwords; a longer one is still found when it holds the known value of a setting.
USERINFO = re.compile(rb"[^\s:/@'\"<>]{0,256}:([^\s@/'\"<>]{1,1024})@[\w\[]")
URL_END = re.compile(rb"[\s'\"<>]")
QUERY_PARAMETER = re.compile(rb"[?&](\w{1,64})=([^&\s'\"<>#]{1,1024})")
KEY_NAMES = (b"key", b"token", b"secret", b"password")
# What documentation and examples write instead of a real password.
PLACEHOLDER = re.compile(
    r"^(?:[$%{<*]|x+$|\.+$|(?:pass(?:word)?|secret|changeme|example|token|key|pw|pwd)\d*$)",
    re.I,
)


def kind_by_shape(content: bytes) -> str | None:
    """The kind of the first secret shape found in content, or None."""
    if has_private_key(content):
        return "a private key"
    if any(_real(value) for value in url_passwords(content)):
        return "a password in a URL"
    if any(_real(value) for value in url_keys(content)):
        return "a key in a URL"
    return None


def is_placeholder(value: str) -> bool:
    return PLACEHOLDER.match(value) is not None


def _real(value: bytes) -> bool:
    return not is_placeholder(value.decode(errors="replace"))


def has_private_key(content: bytes) -> bool:
    start = content.find(KEY_HEADER)
    while start != -1:
        if KEY_HEADER_REST.match(content, start + len(KEY_HEADER)):
            return True
        start = content.find(KEY_HEADER, start + len(KEY_HEADER))
    return False


def url_starts(content: bytes) -> Iterator[int]:
    """Where each URL's authority starts: right after a "://" that follows a scheme."""
    anchor = content.find(SEPARATOR)
    while anchor != -1:
        if SCHEME.search(content, max(0, anchor - SCHEME_LENGTH), anchor):
            yield anchor + len(SEPARATOR)
        anchor = content.find(SEPARATOR, anchor + 1)


def url_passwords(content: bytes) -> Iterator[bytes]:
    for start in url_starts(content):
        # USERINFO stops at the next "/", so the bytes it reads from two anchors overlap
        # by three at most.
        found = USERINFO.match(content, start)
        if found:
            yield found[1]


def url_keys(content: bytes) -> Iterator[bytes]:
    """The values of the query parameters named like keys (api_key, token...) in URLs."""
    end = 0
    for start in url_starts(content):
        if start < end:
            continue  # a URL inside the query of one already read ("?next=https://...")
        stop = URL_END.search(content, start)
        end = stop.start() if stop else len(content)
        for parameter in QUERY_PARAMETER.finditer(content, start, end):
            if parameter[1].lower().endswith(KEY_NAMES):
                yield parameter[2]
