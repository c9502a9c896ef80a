"""Build-time settings, read fresh on every access so override_settings just works."""

from __future__ import annotations

import sys
from typing import Any

from django.conf import settings

DEFAULT_OUTPUT = "site.pyz"


def default_shebang() -> str:
    # The interpreter the dependencies were installed for: with a plain `python3` the
    # archive would start under whatever version a server calls python3.
    return f"/usr/bin/env python{sys.version_info.major}.{sys.version_info.minor}"


class ZipappSettings:
    def _get(self, name: str, default: Any) -> Any:
        return getattr(settings, f"ZIPAPP_{name}", default)

    @property
    def OUTPUT(self) -> str:
        return str(self._get("OUTPUT", DEFAULT_OUTPUT))

    @property
    def REQUIREMENTS(self) -> str | None:
        value = self._get("REQUIREMENTS", None)
        return None if value is None else str(value)

    @property
    def PYTHON(self) -> str | None:
        value = self._get("PYTHON", None)
        return None if value is None else str(value)

    @property
    def COMPRESS(self) -> bool:
        return bool(self._get("COMPRESS", True))

    @property
    def CONFIG_OBJECT(self) -> str | None:
        value = self._get("CONFIG_OBJECT", None)
        return None if value is None else str(value)


conf = ZipappSettings()
