from __future__ import annotations

import json
from pathlib import Path

import pytest

from django_zipapp.runtime.config import ConfigError, split_config_option
from django_zipapp.runtime.config import load_config as load_any_config
from tests.sample_conf import SampleConfig

CONFIG = "tests.sample_conf:config"
SECRET = "planted-secret-4f1c9b"


def load_config(object_path: str, config_file: str | None) -> SampleConfig:
    config = load_any_config(object_path, config_file)
    assert isinstance(config, SampleConfig)
    return config


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SECRET_KEY", "DATABASE_PASSWORD", "PORT", "SAMPLE_CONFIG"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["migrate"], (None, ["migrate"])),
        (["-C", "a.yml", "migrate"], ("a.yml", ["migrate"])),
        (["migrate", "--config", "a.yml", "--noinput"], ("a.yml", ["migrate", "--noinput"])),
        (["serve", "--config=a.toml"], ("a.toml", ["serve"])),
        # No abbreviations: a command's own --conf... option is left alone.
        (["somecommand", "--conf", "x"], (None, ["somecommand", "--conf", "x"])),
        (["shell", "-c", "print(1)"], (None, ["shell", "-c", "print(1)"])),
    ],
)
def test_split_config_option(argv: list[str], expected: tuple[str | None, list[str]]) -> None:
    assert split_config_option(argv) == expected


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("conf.yaml", f"SECRET_KEY: {SECRET}\nPORT: 9000\n"),
        ("conf.toml", f'SECRET_KEY = "{SECRET}"\nPORT = 9000\n'),
        ("conf.json", json.dumps({"SECRET_KEY": SECRET, "PORT": 9000})),
    ],
)
def test_each_format(tmp_path: Path, name: str, text: str) -> None:
    (tmp_path / name).write_text(text)
    config = load_config(CONFIG, str(tmp_path / name))
    assert (config.SECRET_KEY, config.PORT) == (SECRET, 9000)


def test_environment_wins_over_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "conf.yaml").write_text(f"SECRET_KEY: {SECRET}\nPORT: 9000\n")
    monkeypatch.setenv("PORT", "7000")
    assert load_config(CONFIG, str(tmp_path / "conf.yaml")).PORT == 7000


def test_file_option_is_shared_through_file_env_var(tmp_path: Path) -> None:
    import os

    (tmp_path / "conf.yaml").write_text(f"SECRET_KEY: {SECRET}\n")
    config = load_config(CONFIG, str(tmp_path / "conf.yaml"))
    assert os.environ["SAMPLE_CONFIG"] == str(tmp_path / "conf.yaml")
    config.load()  # a wsgi.py reloading it reads the same file
    assert config.SECRET_KEY == SECRET


def test_file_from_its_environment_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "conf.json").write_text(json.dumps({"SECRET_KEY": SECRET}))
    monkeypatch.setenv("SAMPLE_CONFIG", str(tmp_path / "conf.json"))
    assert load_config(CONFIG, None).SECRET_KEY == SECRET


def test_missing_field_is_named_without_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_PASSWORD", SECRET)
    with pytest.raises(ConfigError) as caught:
        load_config(CONFIG, None)
    assert str(caught.value) == (
        "The configuration is invalid:\n"
        "  SECRET_KEY: required; set it in the config file or the SECRET_KEY environment variable"
    )


def test_wrong_type_is_named_without_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_KEY", SECRET)
    monkeypatch.setenv("PORT", f"{SECRET}-not-a-number")
    with pytest.raises(ConfigError) as caught:
        load_config(CONFIG, None)
    message = str(caught.value)
    assert message.startswith(
        "The configuration is invalid:\n  PORT: Input should be a valid integer"
    )
    assert SECRET not in message


def test_missing_file() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(CONFIG, "/nonexistent/site.yaml")
    assert str(caught.value) == (
        "The config file '/nonexistent/site.yaml' cannot be read: No such file or directory. "
        "Give the path of a readable YAML, TOML or JSON file."
    )


@pytest.mark.parametrize(
    ("name", "text", "error"),
    [
        ("bad.yaml", f"SECRET_KEY: [{SECRET}\n", "YAML (line 2)"),
        ("bad.toml", f'PORT = 1\nSECRET_KEY = "{SECRET}\n', "TOML (line 2)"),
        ("bad.json", f'{{"SECRET_KEY": "{SECRET}",}}', "JSON (line 1)"),
        ("bad.conf", f'{{"SECRET_KEY": "{SECRET}"', "JSON (line 1)"),
    ],
)
def test_malformed_file_never_quotes_it(tmp_path: Path, name: str, text: str, error: str) -> None:
    (tmp_path / name).write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(CONFIG, str(tmp_path / name))
    message = str(caught.value)
    assert message == (
        f"The config file {str(tmp_path / name)!r} is not valid {error}. Check its syntax; "
        "the file's extension (.yaml, .yml, .toml, .json) decides how it is read."
    )
    assert SECRET not in message


def test_parse_error_of_a_file_found_elsewhere() -> None:
    from django_zipapp.runtime.config import describe_parse_error

    assert describe_parse_error(ValueError("x"), None) == (
        "The config file is not valid YAML, TOML or JSON. Check its syntax; the file's "
        "extension (.yaml, .yml, .toml, .json) decides how it is read."
    )


def test_a_fault_in_the_project_code_is_not_blamed_on_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "conf.yaml").write_text(f"SECRET_KEY: {SECRET}\n")

    def broken_load(self: object, filename: str | None = None) -> None:
        raise AttributeError("a bug in a project validator")

    monkeypatch.setattr(SampleConfig, "load", broken_load)
    with pytest.raises(AttributeError, match="a bug in a project validator"):
        load_config(CONFIG, str(tmp_path / "conf.yaml"))
