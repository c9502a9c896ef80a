from __future__ import annotations

from django.apps import AppConfig
from django.core import checks


class DjangoZipappAppConfig(AppConfig):
    name = "django_zipapp"
    verbose_name = "django-zipapp"

    def ready(self) -> None:
        from .checks import (
            ARCHIVE_TAG,
            check_archive_settings,
            check_generators,
            check_modules,
            check_settings,
        )

        checks.register(check_settings)
        checks.register(check_modules)
        checks.register(check_archive_settings, ARCHIVE_TAG, deploy=True)
        checks.register(check_generators, ARCHIVE_TAG, deploy=True)
