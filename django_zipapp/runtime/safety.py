"""What ``serve`` refuses to run in production, whatever style the settings are written in.

Read from Django's settings themselves, once they are imported: a goodconf class, a
settings module reading os.environ, or literal values all end up there.
"""

from __future__ import annotations

from typing import Any

from django.core.checks.security import base

from .config import ConfigError


def secret_key_is_insecure(key: str) -> bool:
    """The rule of Django's security.W009, with Django's own figures."""
    return (
        len(set(key)) < base.SECRET_KEY_MIN_UNIQUE_CHARACTERS
        or len(key) < base.SECRET_KEY_MIN_LENGTH
        or key.startswith(base.SECRET_KEY_INSECURE_PREFIX)
    )


def refuse_unsafe_settings(
    settings: Any, *, allow_debug: bool, allow_insecure_secret_key: bool
) -> None:
    """Raise ConfigError (exit status 78) for DEBUG on or a weak SECRET_KEY."""
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
