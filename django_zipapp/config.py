"""A goodconf base class for projects that run as an archive."""

from __future__ import annotations

import importlib.util
import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

import dj_database_url
from goodconf import Field, FileConfigSettingsSource, GoodConf
from pydantic import BeforeValidator, ValidationInfo, field_validator
from pydantic_settings import (
    NoDecode,
    PydanticBaseSettingsSource,
    SecretsSettingsSource,
    SettingsError,
)

if TYPE_CHECKING:
    from pydantic_settings import BaseSettings

# What a settings source is called in ZipappConfig.origins(), by its class name.
ORIGINS = {
    "InitSettingsSource": "argument",
    "EnvSettingsSource": "environment",
    "DotEnvSettingsSource": "env file",
    "SecretsSettingsSource": "credential",
    "_ConfigFileSource": "file",
}
# Each class's sources of its latest load, by source class name, in priority order.
_LOADED_SOURCES: dict[type, dict[str, dict[str, Any]]] = {}

# The modules Django's own database backends import, by backend name; any one will do.
DRIVERS = {
    "postgresql": ("psycopg", "psycopg2"),
    "postgis": ("psycopg", "psycopg2"),
    "mysql": ("MySQLdb",),
    "oracle": ("oracledb",),
}


def _list_from_text(value: Any) -> Any:
    # Only a value from the environment arrives as text; files give real lists.
    if not isinstance(value, str):
        return value
    if value.lstrip().startswith("["):
        try:
            return json.loads(value)
        except ValueError:
            raise ValueError(
                "not a JSON list; give a JSON list or names separated by commas"
            ) from None
    return [part.strip() for part in value.split(",") if part.strip()]


# A list that an environment variable gives as JSON or as a comma-separated string:
# pydantic-settings leaves the text alone (NoDecode) and the validator splits it.
EnvList = Annotated[list[str], NoDecode, BeforeValidator(_list_from_text)]
# Names that say a field holds a secret (also in a project's own fields).
SECRET_NAME = re.compile(r"SECRET|PASSWORD|PASSPHRASE|TOKEN|CREDENTIAL|PRIVATE|(^|_)KEY$")
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class ZipappConfig(GoodConf):
    """Runtime configuration of a Django site served from an archive."""

    # Field names that hold secrets beside those typed SecretStr: masked by `config --show`.
    secret_fields: ClassVar[frozenset[str]] = frozenset({"SECRET_KEY", "DATABASE_URL"})
    # The folder STATE_DIR defaults to under the user's data directory; empty for the
    # name of the project's top-level package.
    data_dir_name: ClassVar[str] = ""

    SECRET_KEY: str = Field(
        description="Django's SECRET_KEY: signs sessions and tokens. Required; keep it secret "
        "and the same on every start.",
    )
    DEBUG: bool = Field(default=False, description="Django's debug mode; never on in production.")
    ALLOWED_HOSTS: EnvList = Field(
        default=["localhost", "127.0.0.1"],
        description="Host names the site answers to; from the environment as JSON or "
        "comma-separated.",
    )
    CSRF_TRUSTED_ORIGINS: EnvList = Field(
        default=[],
        description="Origins trusted for unsafe requests, with their scheme "
        "(https://www.example.com); from the environment as JSON or comma-separated.",
    )
    DATABASE_URL: str = Field(
        default="",
        description="The database as a URL (postgres://user:password@host:5432/name); "
        "empty for SQLite in STATE_DIR.",
    )
    STATE_DIR: str = Field(
        default="",
        validate_default=True,
        description="Where the site keeps its data (the SQLite database); empty for systemd's "
        "STATE_DIRECTORY, else $XDG_DATA_HOME/PROJECT or ~/.local/share/PROJECT.",
    )
    MEDIA_ROOT: str = Field(
        default="",
        validate_default=True,
        description="Where uploaded files are kept (Django's MEDIA_ROOT), served by `serve` "
        "at MEDIA_URL; empty for a media folder in STATE_DIR.",
    )
    LOG_LEVEL: LogLevel = Field(
        default="INFO", description="Level of the log written to standard error."
    )
    SERVE_BIND: str = Field(
        default="127.0.0.1:8000",
        description="Where `serve` listens: HOST:PORT, unix:PATH, or several separated by commas.",
    )
    SERVE_WORKERS: int = Field(
        default=0,
        ge=0,
        description="Worker processes for `serve`; 0 for (2 x CPUs) + 1.",
    )
    SERVE_THREADS: int = Field(
        default=0,
        ge=0,
        description="Threads per worker of the gthread worker class; 0 for 4 with gthread "
        "(1 with sync).",
    )
    SERVE_WORKER_CLASS: Literal["gthread", "sync"] = Field(
        default="gthread",
        description="gunicorn's worker class for `serve`: gthread (keep-alive, slow "
        "clients) or sync.",
    )
    SERVE_TIMEOUT: int = Field(
        default=30, ge=1, description="Seconds a request may take before its worker is restarted."
    )
    SERVE_ACCESS_LOG: str = Field(
        default="-",
        description="Where `serve` writes its access log: a path, '-' for stdout, "
        "or empty for none.",
    )
    SERVE_ALLOW_DEBUG: bool = Field(
        default=False,
        description="Let `serve` run with DEBUG on, which it otherwise refuses.",
    )
    SERVE_WEAK_KEY_OK: bool = Field(
        default=False,
        description="Let `serve` run with a SECRET_KEY that Django's deployment check calls "
        "insecure, or one written in the archive's own files, which it otherwise refuses.",
    )
    KEEP_BUILDS: int = Field(
        default=3,
        ge=1,
        description="Extractions of this archive's builds kept in the cache directory, the "
        "running one included; older ones are removed when a new build starts.",
    )

    @field_validator("SECRET_KEY")
    @classmethod
    def _secret_key_given(cls, value: str) -> str:
        if not value.strip():
            variable = f"{cls.model_config.get('env_prefix') or ''}SECRET_KEY".upper()
            raise ValueError(
                f"must not be empty; set it in the config file or the {variable} "
                "environment variable"
            )
        return value

    @field_validator("DATABASE_URL")
    @classmethod
    def _database_url_parses(cls, value: str) -> str:
        if value:
            try:
                engine = dj_database_url.parse(value)["ENGINE"]
            except ValueError:
                # A fixed message: the URL may hold a password and must not reach a log.
                raise ValueError(
                    "not a database URL dj-database-url understands, such as "
                    "postgres://user:password@host:5432/name or sqlite:////var/lib/site/db.sqlite3"
                ) from None
            missing = _missing_driver(engine)
            if missing:
                raise ValueError(
                    f"its database backend needs {missing}, which is not installed here; "
                    "add it to the project's requirements"
                )
        return value

    @field_validator("CSRF_TRUSTED_ORIGINS")
    @classmethod
    def _origins_have_a_scheme(cls, value: list[str]) -> list[str]:
        if any("://" not in origin for origin in value):
            raise ValueError("each origin needs its scheme, such as https://www.example.com")
        return value

    @field_validator("LOG_LEVEL", mode="before")
    @classmethod
    def _log_level_in_capitals(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("STATE_DIR")
    @classmethod
    def _state_dir_usable(cls, value: str, info: ValidationInfo) -> str:
        value = value or cls._default_state_dir()
        # Checked now, when SQLite will need it: not as a traceback from the settings.
        problem = None if info.data.get("DATABASE_URL") else _unusable_directory(Path(value))
        if problem:
            raise ValueError(
                f"{problem}; the SQLite database is kept there. Give a writable directory, "
                "or a DATABASE_URL"
            )
        return value

    @field_validator("MEDIA_ROOT")
    @classmethod
    def _media_root_in_state_dir(cls, value: str, info: ValidationInfo) -> str:
        # Only a path: the folder is created by the first upload (FileSystemStorage).
        state = info.data.get("STATE_DIR")
        return value or (os.path.join(state, "media") if state else "")

    @classmethod
    def _default_state_dir(cls) -> str:
        systemd = os.environ.get("STATE_DIRECTORY")
        if systemd:
            return systemd.split(":")[0]
        data_home = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
        return os.path.join(data_home, cls.data_dir_name or cls.__module__.split(".")[0])

    def database(self, conn_max_age: int = 600) -> dict[str, Any]:
        """Django's DATABASES: DATABASE_URL, else SQLite in STATE_DIR (created if need be)."""
        if self.DATABASE_URL:
            return {"default": dj_database_url.parse(self.DATABASE_URL, conn_max_age=conn_max_age)}
        # Never inside the archive's extraction folder: the next deploy removes that.
        state = Path(self.STATE_DIR)
        state.mkdir(parents=True, exist_ok=True)
        return {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": state / "db.sqlite3"}}

    def logging(self) -> dict[str, Any]:
        """Django's LOGGING: everything at LOG_LEVEL and above to standard error."""
        from .runtime.logs import DATE_FORMAT, FORMAT  # gunicorn's, for one journal

        return {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"plain": {"format": FORMAT, "datefmt": DATE_FORMAT}},
            "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain"}},
            "root": {"handlers": ["stderr"], "level": self.LOG_LEVEL},
        }

    @classmethod
    def secret_field_names(cls) -> set[str]:
        """Fields whose values are never shown: secret_fields, SecretStr ones, and names
        that say secret, password, token or key."""
        return {
            name
            for name, field in cls.model_fields.items()
            if name in cls.secret_fields
            or SECRET_NAME.search(name)
            or "Secret" in str(field.annotation)
        }

    def origins(self) -> dict[str, str]:
        """Where each field's value came from in the latest load of this class."""
        sources = _LOADED_SOURCES.get(type(self), {})
        found: dict[str, str] = {}
        for source, values in sources.items():
            for name in values:
                found.setdefault(name, ORIGINS.get(source, source))
        return {name: found.get(name, "default") for name in type(self).model_fields}

    @classmethod
    def generate_toml(cls, **override: Any) -> str:
        """A commented TOML file of the initial values.

        goodconf's own fails on a bool field (tomlkit hands back a bool, which cannot
        carry a comment); this one puts each description on the line above its key.
        """
        import tomlkit

        document = tomlkit.document()
        if cls.__doc__:
            document.add(tomlkit.comment(cls.__doc__))
        for name, value in cls.get_initial(**override).items():
            document.add(tomlkit.nl())
            description = cls.model_fields[name].description
            if description:
                document.add(tomlkit.comment(description))
            document.add(name, value)
        return tomlkit.dumps(document)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Environment, env file, systemd credentials, config file, in that order."""
        init, env, dotenv, config_file, secrets = super().settings_customise_sources(
            settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
        )
        credentials = os.environ.get("CREDENTIALS_DIRECTORY")
        if credentials:
            # systemd's LoadCredential=/SetCredential= files, each named after a field.
            secrets = SecretsSettingsSource(settings_cls, secrets_dir=credentials)
        config_file = _ConfigFileSource(settings_cls)
        return (init, env, dotenv, secrets, config_file, _RecordOrigins(settings_cls))


def _unusable_directory(path: Path) -> str | None:
    existing = next(p for p in (path, *path.parents) if os.path.exists(p))
    if not existing.is_dir():
        return "is not a directory" if existing == path else "is below a file, not a directory"
    if not os.access(existing, os.W_OK | os.X_OK):
        return "is not writable" if existing == path else "does not exist and cannot be created"
    return None


def _missing_driver(engine: str) -> str | None:
    """What the backend needs and cannot import, found now rather than as a traceback
    when Django first opens a connection."""
    package = engine.split(".")[0]
    if importlib.util.find_spec(package) is None:
        return package
    drivers = DRIVERS.get(engine.rsplit(".", 1)[-1], ())
    if drivers and not any(importlib.util.find_spec(driver) for driver in drivers):
        return " or ".join(drivers)
    return None


class _ConfigFileSource(FileConfigSettingsSource):
    def __call__(self) -> dict[str, Any]:
        values = super().__call__()
        # A file of one value or a list parses, but cannot be merged with the other sources.
        if not isinstance(values, dict):
            raise SettingsError(
                "the config file must hold field names with their values, "
                "not a list or a single value"
            )
        return values


class _RecordOrigins(PydanticBaseSettingsSource):
    """Adds no value: keeps what each source gave, for ZipappConfig.origins()."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        _LOADED_SOURCES[self.settings_cls] = self.settings_sources_data
        return {}
