"""The example site's runtime configuration: a config file plus environment variables.

The archive loads `config` before it imports the settings, from `-C FILE`, the file named
by EXAMPLE_CONFIG, and environment variables (which win).
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.management.utils import get_random_secret_key
from goodconf import Field
from pydantic import field_validator

from django_zipapp.config import ZipappConfig


class ExampleConfig(ZipappConfig):
    """Configuration of the django-zipapp example site."""

    model_config = {"file_env_var": "EXAMPLE_CONFIG"}

    SECRET_KEY: str = Field(
        initial=get_random_secret_key,
        description="Signs sessions and tokens. Required; keep it secret and stable.",
    )
    DEBUG: bool = Field(default=False, description="Django's debug mode; never on in production.")
    ALLOWED_HOSTS: list[str] = Field(
        default=["localhost", "127.0.0.1"],
        description="Host names the site answers to.",
    )
    DATABASE_URL: str | None = Field(
        default=None,
        description="A database URL (postgres://user:password@host/name); "
        "by default SQLite in the state directory.",
    )
    HTTPS: bool = Field(
        default=False,
        description="The site is reached over HTTPS (behind a proxy that sets "
        "X-Forwarded-Proto): secure cookies, HSTS and a redirect from HTTP.",
    )
    STATE_DIR: str | None = Field(
        default=None,
        description="Where the site keeps its data (the SQLite database); by default "
        "systemd's STATE_DIRECTORY, else ~/.local/share/django-zipapp-example.",
    )

    @field_validator("DATABASE_URL")
    @classmethod
    def _database_url_parses(cls, value: str | None) -> str | None:
        if value:
            try:
                dj_database_url.parse(value)
            except ValueError:
                # A fixed message: the URL may hold a password and must not reach a log.
                raise ValueError(
                    "not a database URL dj-database-url understands, such as "
                    "postgres://user:password@host:5432/name or sqlite:////var/lib/site/db.sqlite3"
                ) from None
        return value

    def state_dir(self) -> Path:
        if self.STATE_DIR:
            return Path(self.STATE_DIR)
        systemd = os.environ.get("STATE_DIRECTORY")
        if systemd:
            return Path(systemd.split(":")[0])
        data_home = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
        return Path(data_home) / "django-zipapp-example"


config = ExampleConfig()
