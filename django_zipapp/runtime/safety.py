"""What ``serve`` refuses to run in production, whatever style the settings are written in.

Read from Django's settings themselves, once they are imported: a goodconf class, a
settings module reading os.environ, or literal values all end up there.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from django.core.checks.security import base

from .config import ConfigError

# Written by the build: a digest of each key-shaped string literal of the packed project
# files, with the file's name. Read only by serve, one small file, once.
PUBLISHED_KEYS_NAME = "_zipapp/published-keys.json"


def key_digest(value: str) -> str:
    # The literals are in the archive for anyone to read: the digest only keeps the file
    # small and the configured key out of any comparison that could be printed.
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def secret_key_is_insecure(key: str) -> bool:
    """The rule of Django's security.W009, with Django's own figures."""
    return (
        len(set(key)) < base.SECRET_KEY_MIN_UNIQUE_CHARACTERS
        or len(key) < base.SECRET_KEY_MIN_LENGTH
        or key.startswith(base.SECRET_KEY_INSECURE_PREFIX)
    )


def refuse_unsafe_settings(
    settings: Any,
    *,
    allow_debug: bool,
    allow_insecure_secret_key: bool,
    site_packages: Path | None = None,
) -> None:
    """Raise ConfigError (exit status 78) for DEBUG on or a weak SECRET_KEY: a short one,
    or one written in the archive's own files (those under site_packages)."""
    if settings.DEBUG and not allow_debug:
        raise ConfigError(
            "DEBUG is on in the settings serve would run with; turn it off (DEBUG=false in "
            "the configuration or the environment variable the settings read), or give "
            "serve --allow-debug (config SERVE_ALLOW_DEBUG) to serve with it anyway."
        )
    if allow_insecure_secret_key:
        return
    try:
        key = str(settings.SECRET_KEY)
    except Exception:  # ImproperlyConfigured: empty
        key = ""
    if secret_key_is_insecure(key):
        raise ConfigError(
            f"SECRET_KEY is insecure (Django's security.W009: fewer than "
            f"{base.SECRET_KEY_MIN_LENGTH} characters, fewer than "
            f"{base.SECRET_KEY_MIN_UNIQUE_CHARACTERS} different ones, or a "
            f"'{base.SECRET_KEY_INSECURE_PREFIX}' prefix); set a long random one, or give "
            "serve --allow-insecure-secret-key (config SERVE_WEAK_KEY_OK)."
        )
    if site_packages is not None:
        refuse_published_key(key, site_packages)


def refuse_published_key(key: str, site_packages: Path) -> None:
    try:
        published = json.loads((site_packages / PUBLISHED_KEYS_NAME).read_text("utf-8"))
    except (OSError, ValueError):
        return  # built before the build recorded them
    source = published.get(key_digest(key)) if isinstance(published, dict) else None
    if source is not None:
        raise ConfigError(
            f"SECRET_KEY is the value written in {source!r}, one of the archive's own files, "
            "so anyone with the archive or the project's source can sign sessions, password "
            "reset links and tokens of the site; set a long random key of this server's own "
            "(python3 -c 'import secrets; print(secrets.token_urlsafe(50))'), or give serve "
            "--allow-insecure-secret-key (config SERVE_WEAK_KEY_OK) to serve with it anyway."
        )
