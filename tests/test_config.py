"""The base config class: its fields, list parsing, sources and helpers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import tomlkit
from pydantic import ValidationError

from django_zipapp.config import ZipappConfig
from tests.sample_conf import SampleConfig

SECRET = "planted-secret-4f1c9b"
VARIABLES = (
    "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS", "DATABASE_URL", "STATE_DIR",
    "LOG_LEVEL", "SERVE_WORKERS", "KEEP_BUILDS", "DATABASE_PASSWORD", "PORT", "SAMPLE_CONFIG",
    "STATE_DIRECTORY", "XDG_DATA_HOME", "CREDENTIALS_DIRECTORY",
)  # fmt: skip


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)


def loaded(
    monkeypatch: pytest.MonkeyPatch, filename: str | None = None, **env: str
) -> SampleConfig:
    monkeypatch.setenv("SECRET_KEY", SECRET)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    config = SampleConfig()
    config.load(filename)
    return config


def test_safe_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = loaded(monkeypatch, STATE_DIRECTORY=f"{tmp_path}/site:{tmp_path}/other")
    assert config.DEBUG is False
    assert config.ALLOWED_HOSTS == ["localhost", "127.0.0.1"]
    assert config.CSRF_TRUSTED_ORIGINS == []
    assert config.DATABASE_URL == ""
    assert Path(config.STATE_DIR) == tmp_path / "site"  # systemd's first state directory
    assert (config.LOG_LEVEL, config.KEEP_BUILDS, config.SERVE_WORKERS) == ("INFO", 3, 0)


def test_secret_key_is_required() -> None:
    with pytest.raises(ValidationError) as caught:
        SampleConfig().load()
    assert [error["loc"] for error in caught.value.errors()] == [("SECRET_KEY",)]


def test_state_dir_from_xdg_data_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = loaded(monkeypatch, XDG_DATA_HOME=str(tmp_path))
    assert Path(config.STATE_DIR) == tmp_path / "tests"  # named after the project's package


@pytest.mark.parametrize(
    ("below", "problem"),
    [("", "is not a directory"), ("/state", "is below a file, not a directory")],
)
def test_state_dir_must_be_usable_for_sqlite(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, below: str, problem: str
) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(ValidationError) as caught:
        loaded(monkeypatch, STATE_DIR=f"{tmp_path}/file{below}")
    (error,) = caught.value.errors(include_input=False)
    assert (error["loc"], error["msg"]) == (
        ("STATE_DIR",),
        f"Value error, {problem}; the SQLite database is kept there. Give a writable "
        "directory, or a DATABASE_URL",
    )
    elsewhere = loaded(monkeypatch, DATABASE_URL="sqlite:////srv/site/db.sqlite3")
    assert elsewhere.STATE_DIR.endswith(f"/file{below}")  # unused, so not checked


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("example.com", ["example.com"]),
        ("example.com, www.example.com,", ["example.com", "www.example.com"]),
        ('["example.com", "www.example.com"]', ["example.com", "www.example.com"]),
        ("", []),
    ],
)
def test_lists_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, text: str, expected: list[str]
) -> None:
    assert expected == loaded(monkeypatch, ALLOWED_HOSTS=text).ALLOWED_HOSTS


def test_lists_from_a_file_stay_lists(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "site.json").write_text(json.dumps({"ALLOWED_HOSTS": ["a.example, b.example"]}))
    assert loaded(monkeypatch, str(tmp_path / "site.json")).ALLOWED_HOSTS == [
        "a.example, b.example"
    ]


def test_log_level_in_any_case(monkeypatch: pytest.MonkeyPatch) -> None:
    assert loaded(monkeypatch, LOG_LEVEL="warning").LOG_LEVEL == "WARNING"


def test_database_from_url(monkeypatch: pytest.MonkeyPatch) -> None:
    config = loaded(monkeypatch, DATABASE_URL="sqlite:////srv/site/db.sqlite3")
    database = config.database()["default"]
    assert database["ENGINE"] == "django.db.backends.sqlite3"
    assert (database["NAME"], database["CONN_MAX_AGE"]) == ("/srv/site/db.sqlite3", 600)


@pytest.mark.parametrize(
    ("url", "missing"),
    [
        ("postgres://site:pw@db/site", "psycopg or psycopg2"),
        ("mysql://site:pw@db/site", "MySQLdb"),
        ("cockroach://site:pw@db/site", "django_cockroachdb"),
    ],
)
def test_database_url_without_its_driver(
    monkeypatch: pytest.MonkeyPatch, url: str, missing: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        loaded(monkeypatch, DATABASE_URL=url)
    (error,) = caught.value.errors(include_input=False)
    assert error["msg"] == (
        f"Value error, its database backend needs {missing}, which is not installed here; "
        "add it to the project's requirements"
    )


def test_database_defaults_to_sqlite_in_the_state_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = loaded(monkeypatch, STATE_DIR=str(tmp_path / "state"))
    assert config.database() == {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": tmp_path / "state" / "db.sqlite3",
        }
    }
    assert (tmp_path / "state").is_dir()


def test_logging_at_the_configured_level(monkeypatch: pytest.MonkeyPatch) -> None:
    import logging.config

    logging_config = loaded(monkeypatch, LOG_LEVEL="error").logging()
    assert logging_config["root"]["level"] == "ERROR"
    logging.config.dictConfig(logging_config)  # Django's LOGGING_CONFIG accepts it
    assert logging.getLogger().level == logging.ERROR
    logging.getLogger().setLevel(logging.WARNING)


def test_origins_and_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "DATABASE_PASSWORD").write_text("from-a-credential\n")
    (credentials / "PORT").write_text("7000")
    (tmp_path / "site.yaml").write_text("PORT: 9000\nDEBUG: true\nKEEP_BUILDS: 1\n")
    config = loaded(
        monkeypatch,
        str(tmp_path / "site.yaml"),
        CREDENTIALS_DIRECTORY=str(credentials),
        KEEP_BUILDS="5",
    )
    # environment > credential > file > default
    assert (config.DATABASE_PASSWORD, config.PORT, config.DEBUG) == (
        "from-a-credential",
        7000,
        True,
    )
    assert config.KEEP_BUILDS == 5
    origins = config.origins()
    assert origins["SECRET_KEY"] == origins["KEEP_BUILDS"] == "environment"
    assert origins["DATABASE_PASSWORD"] == origins["PORT"] == "credential"
    assert origins["DEBUG"] == "file"
    assert origins["LOG_LEVEL"] == "default"


def test_env_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "site.env").write_text(f"SECRET_KEY={SECRET}\nPORT=7100\n")

    class EnvFileConfig(SampleConfig):
        model_config = {"env_file": str(tmp_path / "site.env")}

    config = EnvFileConfig()
    config.load()
    assert (config.SECRET_KEY, config.PORT) == (SECRET, 7100)
    assert config.origins()["PORT"] == "env file"


def test_secret_fields() -> None:
    assert SampleConfig.secret_field_names() == {"SECRET_KEY", "DATABASE_URL", "DATABASE_PASSWORD"}


def test_toml_sample_with_a_bool_field_loads_back() -> None:
    sample = ZipappConfig.generate_toml()
    assert "# Django's debug mode; never on in production.\nDEBUG = false\n" in sample
    assert tomlkit.loads(sample).unwrap() == ZipappConfig.get_initial()


@pytest.mark.parametrize(
    ("name", "value", "secret", "shown"),
    [
        ("DATABASE_URL", "postgres://site:pw@db:5432/site", True, '"postgres://site:********@db:5432/site"'),
        ("DATABASE_URL", "sqlite:////srv/db.sqlite3", True, '"sqlite:////srv/db.sqlite3"'),
        ("SECRET_KEY", "s3cr3t", True, "********"),
        ("SECRET_KEY", "", True, '""'),
        ("ALLOWED_HOSTS", ["a.example"], False, '["a.example"]'),
    ],
)  # fmt: skip
def test_masked(name: str, value: object, secret: bool, shown: str) -> None:
    from django_zipapp.runtime.config_command import masked

    assert masked(name, value, secret) == shown


def test_a_project_list_field_typed_envlist(monkeypatch: pytest.MonkeyPatch) -> None:
    from goodconf import Field

    from django_zipapp.config import EnvList

    class ListConfig(SampleConfig):
        ADMIN_EMAILS: EnvList = Field(default=[], description="Who gets error mail.")

    monkeypatch.setenv("SECRET_KEY", SECRET)
    monkeypatch.setenv("ADMIN_EMAILS", "a@example.com,b@example.com")
    config = ListConfig()
    config.load()
    assert config.ADMIN_EMAILS == ["a@example.com", "b@example.com"]
