"""Build-time settings, read fresh on every access so override_settings just works."""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path
from typing import Any, Literal, cast

from django.conf import settings
from django.core.files.storage import storages

DEFAULT_OUTPUT = "site.pyz"


def default_shebang(python: str | None = None) -> str:
    # The interpreter the dependencies were installed for: with a plain `python3` the
    # archive would start under whatever version a server calls python3.
    return f"/usr/bin/env python{python or f'{sys.version_info.major}.{sys.version_info.minor}'}"


def project_setting(name: str, default: Any = None) -> Any:
    """A project setting's value, read to check it rather than to use it.

    Django warns when a deprecated setting is read (EMAIL_* from Django 6.1 on); looking
    at every path a project configures must not turn into that warning, an error under
    -W error.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        return getattr(settings, name, default)


def staticfiles_storage_config() -> dict[str, Any]:
    """STORAGES["staticfiles"], with Django's default filled in when it is not set."""
    return storage_config("staticfiles")


def storage_config(alias: str) -> dict[str, Any]:
    """STORAGES[alias], with Django's defaults filled in."""
    return cast("dict[str, Any]", storages.backends[alias])


def file_system_storages() -> list[tuple[str, str | None]]:
    """Each storage but the static files' one that keeps its files in a local folder, with
    that folder as the storage itself resolves it (None: MEDIA_ROOT).

    Read from the instance, not from OPTIONS: a storage may compute its location (a
    base_location property reading a setting of its own).
    """
    found = []
    for alias in storages.backends:
        if alias == "staticfiles":
            continue
        location = _local_location(alias)
        if location is not False:
            found.append((alias, location))
    return found


def _local_location(alias: str) -> str | Literal[False] | None:
    """The folder storages[alias] writes to, None for MEDIA_ROOT, False for none."""
    try:
        storage = storages[alias]
        base_location = getattr(storage, "base_location", False)
        location = getattr(storage, "location", None)
    except Exception:  # a backend that cannot be made here: buildpyz names it, or the site
        return False
    if base_location is not False and base_location == settings.MEDIA_ROOT:
        return None
    if isinstance(location, (str, Path)) and os.path.isabs(location):
        return str(location)
    return False  # a remote storage, whose location is a prefix of keys


def from_base_dir(path: str) -> str:
    """BASE_DIR joined with path, written for the type BASE_DIR has in these settings."""
    if isinstance(getattr(settings, "BASE_DIR", None), str):
        return f"os.path.join(BASE_DIR, {path!r})"
    return f"BASE_DIR / {path!r}"


class ZipappSettings:
    def _get(self, name: str, default: Any) -> Any:
        return getattr(settings, f"ZIPAPP_{name}", default)

    def _optional_str(self, name: str) -> str | None:
        value = self._get(name, None)
        return None if value is None else str(value)

    @property
    def OUTPUT(self) -> str:
        return str(self._get("OUTPUT", DEFAULT_OUTPUT))

    @property
    def REQUIREMENTS(self) -> str | None:
        return self._optional_str("REQUIREMENTS")

    @property
    def PYTHON(self) -> str | None:
        return self._optional_str("PYTHON")

    @property
    def COMPRESS(self) -> bool:
        return bool(self._get("COMPRESS", True))

    @property
    def BUNDLE_PYTHON(self) -> str | None:
        """None: a plain archive; "": the running interpreter; else a tarball's path."""
        value = self._get("BUNDLE_PYTHON", False)
        if value is False or value is None:
            return None
        return "" if value is True else str(value)

    @property
    def ASGI(self) -> bool:
        """Pack the ASGI worker, and have serve run the site's ASGI application."""
        return bool(self._get("ASGI", False))

    @property
    def CONFIG_OBJECT(self) -> str | None:
        return self._optional_str("CONFIG_OBJECT")

    # The project's layout and build steps.
    @property
    def SETTINGS_MODULE(self) -> str | None:
        return self._optional_str("SETTINGS_MODULE")

    @property
    def INCLUDE(self) -> list[str]:
        return [str(path) for path in self._get("INCLUDE", [])]

    @property
    def BUILD_COMMANDS(self) -> list[str | list[str]]:
        return list(self._get("BUILD_COMMANDS", []))

    # Targets, exclusions and the dependency cache.
    @property
    def PLATFORMS(self) -> list[str]:
        return [str(tag) for tag in self._get("PLATFORMS", [])]

    @property
    def PYTHON_VERSION(self) -> str | None:
        return self._optional_str("PYTHON_VERSION")

    @property
    def EXCLUDE(self) -> list[str]:
        return [str(pattern) for pattern in self._get("EXCLUDE", [])]

    @property
    def CACHE_DIR(self) -> str | None:
        return self._optional_str("CACHE_DIR")

    # The verification of the new archive.
    @property
    def VERIFY(self) -> bool:
        return bool(self._get("VERIFY", True))

    @property
    def VERIFY_URLS(self) -> list[str]:
        return [str(url) for url in self._get("VERIFY_URLS", ["/"])]

    @property
    def VERIFY_ENV(self) -> dict[str, str]:
        return {str(k): str(v) for k, v in self._get("VERIFY_ENV", {}).items()}

    # The site's workers and scheduled jobs (django_zipapp.processes checks them).
    @property
    def WORKERS(self) -> Any:
        return self._get("WORKERS", {})

    @property
    def JOBS(self) -> Any:
        return self._get("JOBS", {})


conf = ZipappSettings()
