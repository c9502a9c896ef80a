"""What every command run inside an archive knows: the build, where it is, its config."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..booted import in_archive
from .builds import prune_old_builds
from .catalogues import serve_packed_catalogues
from .class_settings import install_configuration_importer
from .config import ConfigError, load_config
from .databases import refuse_databases_inside


@dataclass(frozen=True)
class Archive:
    build: dict[str, Any]
    site_packages: Path
    prog: str
    config_file: str | None

    def load_config(self) -> object | None:
        """Load the project's goodconf instance from -C/--config and the environment."""
        object_path = self.build.get("config_object")
        if object_path is None:
            if self.config_file is not None:
                raise ConfigError(
                    f"-C/--config was given, but this archive's project has no goodconf "
                    f"configuration, so {self.config_file!r} cannot be used."
                )
            config = None
        else:
            config = load_config(object_path, self.config_file)
        # Here because every command that starts the site comes through: the number of
        # builds to keep is part of the site's configuration.
        prune_old_builds(self.site_packages.parent, config)
        return config

    def point_settings_at_archive(self) -> None:
        # The collected static files are inside the extraction, wherever that is on this
        # host; the manifest storage and whitenoise must read them there. The directories
        # they were collected from are build inputs and stay on the build machine.
        from django.conf import settings

        from .settings_errors import settings_error

        install_configuration_importer(self.build)

        try:
            settings.STATIC_ROOT = str(self.site_packages / self.build["static"]["root"])
        except AttributeError as exc:
            if self.build.get("config_object") is not None:
                raise
            # Settings that read a goodconf instance nobody loaded (built before the build
            # refused an unknown config object).
            raise ConfigError(
                f"The settings could not be loaded: {exc}. This archive was built without "
                "knowing the project's goodconf configuration object, so nothing loaded it "
                "before the settings. Build it again with --config-object "
                "(ZIPAPP_CONFIG_OBJECT) naming it as 'module:attribute'."
            ) from None
        except Exception as exc:  # KeyError, ImproperlyConfigured, decouple's own error
            explained = settings_error(exc, self.build, self.site_packages, self.prog)
            if explained is None:
                raise
            raise explained from None
        settings.STATICFILES_DIRS = []
        refuse_databases_inside(self.site_packages.parent.parent)
        if in_archive():  # sys.argv[0] is the archive (see boot/entry.py)
            serve_packed_catalogues(Path(sys.argv[0]), self.site_packages)
