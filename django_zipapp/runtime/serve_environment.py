"""serve's settings from the environment, for a site without a goodconf configuration.

A site whose settings read ``os.environ`` has no configuration object to carry
``SERVE_BIND``, ``SERVE_WORKERS``...; serve then reads the same variables itself, typed
and checked as :class:`~django_zipapp.config.ZipappConfig` declares them, as
``KEEP_BUILDS`` is read (runtime/builds.py). A unit's ``Environment=SERVE_BIND=...``
moves the site whatever its settings style.
"""

from __future__ import annotations

from typing import Any

from .config import ConfigError


def serve_settings() -> object:
    """The SERVE_* fields, from the environment variables of the same names."""
    from pydantic import ValidationError, create_model
    from pydantic_settings import BaseSettings

    from django_zipapp.config import ZipappConfig

    fields: dict[str, Any] = {
        name: (field.annotation, field)
        for name, field in ZipappConfig.model_fields.items()
        if name.startswith("SERVE_")
    }
    model = create_model("ServeSettings", __base__=BaseSettings, **fields)
    try:
        return model()
    except ValidationError as exc:
        # include_input=False: a rejected value is not repeated into a log.
        problems = [
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
            for error in exc.errors(include_url=False, include_input=False, include_context=False)
        ]
        raise ConfigError(
            "The environment is invalid for serve: " + "; ".join(problems) + "."
        ) from None
