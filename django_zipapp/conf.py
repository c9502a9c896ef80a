"""Build-time settings, read fresh on every access so override_settings just works."""

from __future__ import annotations

import sys
import warnings
from typing import Any, cast

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
    return cast("dict[str, Any]", storages.backends["staticfiles"])


def file_system_storages() -> list[tuple[str, Any]]:
    """Each FileSystemStorage of STORAGES but the static files' one, with the location
    its OPTIONS give (None: it writes to MEDIA_ROOT)."""
    from django.core.files.storage import FileSystemStorage
    from django.utils.module_loading import import_string

    found = []
    for alias, config in getattr(settings, "STORAGES", {}).items():
        try:
            backend = import_string(config.get("BACKEND", ""))
        except ImportError:
            continue
        if alias != "staticfiles" and issubclass(backend, FileSystemStorage):
            found.append((alias, (config.get("OPTIONS") or {}).get("location") or None))
    return found


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
