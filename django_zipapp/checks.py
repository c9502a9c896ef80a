"""System checks for the ZIPAPP_* settings and what the archive relies on."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.staticfiles.storage import ManifestFilesMixin
from django.core.checks import CheckMessage, Error, Warning
from django.utils.module_loading import import_string

from .boot import BOOT_MODULE
from .conf import staticfiles_storage_config

OBJECT_PATH = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*$")


def check_settings(**kwargs: Any) -> list[CheckMessage]:
    if BOOT_MODULE in sys.modules:
        # These settings configure building. A running archive has nothing to build, and
        # the files they name (a requirements file) stay on the build machine.
        return []
    return [
        *_check_strings(),
        *_check_compress(),
        *_check_config_object(),
        *_check_requirements(),
        *_check_static_storage(),
    ]


def _check_strings() -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    for name in ("ZIPAPP_OUTPUT", "ZIPAPP_PYTHON", "ZIPAPP_REQUIREMENTS", "ZIPAPP_CONFIG_OBJECT"):
        value = getattr(settings, name, None)
        if value is not None and not isinstance(value, (str, Path)):
            errors.append(
                Error(
                    f"{name} must be a string, not {type(value).__name__}.",
                    hint=f"Set {name} to a string, or remove it to use the default.",
                    id="django_zipapp.E001",
                )
            )
    return errors


def _check_compress() -> list[CheckMessage]:
    value = getattr(settings, "ZIPAPP_COMPRESS", True)
    if isinstance(value, bool):
        return []
    return [
        Error(
            f"ZIPAPP_COMPRESS must be True or False, not {value!r}.",
            hint="Set ZIPAPP_COMPRESS = True (the default) or False.",
            id="django_zipapp.E002",
        )
    ]


def _check_config_object() -> list[CheckMessage]:
    value = getattr(settings, "ZIPAPP_CONFIG_OBJECT", None)
    if not isinstance(value, str) or OBJECT_PATH.match(value):
        return []
    return [
        Error(
            f"ZIPAPP_CONFIG_OBJECT must name a goodconf instance as 'module:attribute', "
            f"not {value!r}.",
            hint="For a `config = AppConfig()` in myproject/conf.py, set "
            "ZIPAPP_CONFIG_OBJECT = 'myproject.conf:config'.",
            id="django_zipapp.E003",
        )
    ]


def _check_requirements() -> list[CheckMessage]:
    value = getattr(settings, "ZIPAPP_REQUIREMENTS", None)
    if not isinstance(value, (str, Path)) or Path(value).is_file():
        return []
    return [
        Error(
            f"ZIPAPP_REQUIREMENTS names {str(value)!r}, which is not a file.",
            hint="Point ZIPAPP_REQUIREMENTS at a requirements file or a pyproject.toml, "
            "or remove it to let buildpyz find one in the project.",
            id="django_zipapp.E004",
        )
    ]


def _check_static_storage() -> list[CheckMessage]:
    backend = staticfiles_storage_config()["BACKEND"]
    try:
        storage_class = import_string(backend)
    except ImportError:
        return []  # buildpyz names a backend that does not import, before it builds
    if issubclass(storage_class, ManifestFilesMixin):
        return []
    return [
        Warning(
            f"The static files storage {backend!r} does not hash file names, so the "
            "archive's static files cannot be cached by browsers for long.",
            hint="Set STORAGES['staticfiles']['BACKEND'] to "
            "'whitenoise.storage.CompressedManifestStaticFilesStorage'.",
            id="django_zipapp.W001",
        )
    ]
