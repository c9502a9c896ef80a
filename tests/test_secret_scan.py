"""The secret scan's shapes: what it finds, what it leaves, and content that once made it slow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from django_zipapp.builder.secret_shapes import kind_by_shape
from django_zipapp.builder.secrets import Secret, _kind_in, packed_files
from django_zipapp.builder.static import missing_static_dirs

PASSWORD = "Vt5Nw3Xe8Jd"
KEY = "Fr6Gm1Ps4WbQ"
# A megabyte: content of this size took the former patterns hours (each start position
# re-read the rest of the line); the scan now reads it in milliseconds.
LONG = 1_000_000

FOUND = {
    "-----BEGIN PRIVATE KEY-----\nMIIE": "a private key",
    "-----BEGIN RSA PRIVATE KEY-----": "a private key",
    "-----BEGIN OPENSSH PRIVATE KEY-----": "a private key",
    "-----BEGIN ENCRYPTED PRIVATE KEY-----": "a private key",
    "-----BEGIN EC PRIVATE KEY-----": "a private key",
    f"postgres://site:{PASSWORD}@db:5432/site": "a password in a URL",
    f"DATABASE_URL=postgresql+psycopg://site:{PASSWORD}@db/site": "a password in a URL",
    f"redis://:{PASSWORD}@cache:6379/0": "a password in a URL",
    f'"amqp://guest:{PASSWORD}@[::1]:5672/"': "a password in a URL",
    f"x=mysql://u:{PASSWORD}:tail@h/db": "a password in a URL",
    f'"https://api.example.com/v1/items?api_key={KEY}"': "a key in a URL",
    f"https://example.com/?page=2&access_token={KEY}#top": "a key in a URL",
    f"https://example.com/path?Password={KEY}": "a key in a URL",
    f"https://a.example/?next=https://b.example/?x=1&client_secret={KEY}": "a key in a URL",
    f"https://a.example/?token=xxxx&api_key={KEY}": "a key in a URL",
}
NOT_FOUND = (
    "-----BEGIN PUBLIC KEY-----",
    "-----BEGIN CERTIFICATE-----",
    "-----BEGIN PGP PRIVATE KEY BLOCK-----",
    "postgres://site:password@db/site",
    "postgres://site:${DB_PASSWORD}@db/site",
    "postgres://site:<secret>@db/site",
    "redis://:changeme1@cache/0",
    "postgres://site@db/site",
    "https://example.com/?page=2&sort=name",
    "https://example.com/?api_key=${API_KEY}",
    "https://example.com/?keyword=django",
    f"not a url:{PASSWORD}@host",
    f"1://user:{PASSWORD}@host",
    f"https://example.com/ ?api_key={KEY}",
    "email: someone@example.com, time 12:30",
)


@pytest.mark.parametrize(("content", "kind"), FOUND.items())
def test_each_shape_is_found(content: str, kind: str) -> None:
    assert kind_by_shape(content.encode()) == kind


@pytest.mark.parametrize("content", NOT_FOUND)
def test_placeholders_and_lookalikes_are_not_secrets(content: str) -> None:
    assert kind_by_shape(content.encode()) is None


@pytest.mark.parametrize(
    "filler",
    [
        b"a" * LONG,  # one long word: every position starts a scheme
        b"https://a.example/?x=1&" * (LONG // 23),  # one URL-ish run with no end
        b"a://" * (LONG // 4),
        b"-----BEGIN " * (LONG // 11),
        b"-----BEGIN A " * (LONG // 13),
        b"a:" * (LONG // 2),
        b"x://" + b"?" * LONG,
        b"x://" + b"?a" * (LONG // 2),
        b"x://" + b"a" * LONG + b"@",
        b"x://:" + b"a" * LONG,
        b"x://?" + b"k" * LONG + b"=",
        b'var a="https://example.com/p?q=1&r=2",b=function(c){return c+1};' * (LONG // 64),
    ],
    ids=lambda filler: repr(filler[:16]),
)
def test_long_lines_are_read_in_linear_time_and_a_secret_after_them_is_found(
    filler: bytes,
) -> None:
    assert kind_by_shape(filler) is None
    tail = f" postgres://site:{PASSWORD}@db/site".encode()
    assert kind_by_shape(filler + tail) == "a password in a URL"
    key = f' "https://example.com/?api_key={KEY}"'.encode()
    assert kind_by_shape(filler + key) == "a key in a URL"
    known = Secret("the value of SECRET_KEY", KEY.encode() * 4)
    assert _kind_in(filler + known.value, [known]) == "the value of SECRET_KEY"


def test_a_static_dir_that_does_not_exist_is_skipped(tmp_path: Path, settings: Any) -> None:
    """Django only warns about it (staticfiles.W004): the scan skips it as collectstatic does."""
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "app.js").write_text("const a = 1;\n")
    (tmp_path / "staging").mkdir()
    settings.STATICFILES_DIRS = [tmp_path / "frontend" / "dist", tmp_path / "assets"]
    assert missing_static_dirs() == [str(tmp_path / "frontend" / "dist")]
    files = packed_files(tmp_path / "staging", tmp_path / "staging" / "static", tmp_path)
    assert files == [("assets/app.js", tmp_path / "assets" / "app.js")]
