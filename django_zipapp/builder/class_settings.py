"""The django-configurations class the build's settings were loaded from.

django-configurations settings are classes in the settings module, one of which
``DJANGO_CONFIGURATION`` names (``Production``); its importer must be installed before
Django imports them. Its loader records the class in the setting ``CONFIGURATION``
(``"mysite.settings.Production"``). The archive records the class name, as it records the
settings module, so that it installs the importer and defaults to the same class.
"""

from __future__ import annotations

from django.conf import settings


def configuration_class(settings_module: str) -> str | None:
    """The class name django-configurations loaded the settings from; None when the
    settings are a plain module."""
    loaded = getattr(settings, "CONFIGURATION", None)
    if not isinstance(loaded, str):
        return None
    module, _, name = loaded.rpartition(".")
    return name if module == settings_module and name.isidentifier() else None
