"""A settings module that python-decouple stops, explained in one paragraph."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from decouple import AutoConfig

from django_zipapp.runtime.settings_errors import settings_error

Read = Callable[[AutoConfig], object]


def _raised_by(read: Read, tmp_path: Path) -> BaseException:
    """What reading a setting with python-decouple raises, as settings would read it."""
    config = AutoConfig(search_path=str(tmp_path))  # no .env or settings.ini there
    try:
        read(config)
    except Exception as exc:
        return exc
    raise AssertionError("the setting was read")


@pytest.mark.parametrize(
    ("value", "read", "said"),
    [
        ("maybe", lambda config: config("DEBUG", cast=bool),
         "ValueError: Invalid truth value: maybe"),
        ("many", lambda config: config("DEBUG", cast=int),
         "ValueError: invalid literal for int() with base 10: 'many'"),
    ],
)  # fmt: skip
def test_a_value_decouple_cannot_cast_is_named(
    value: str, read: Read, said: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "api.settings")
    monkeypatch.setenv("DEBUG", value)
    error = settings_error(_raised_by(read, tmp_path), {}, tmp_path, "site.pyz")
    assert error is not None
    assert str(error) == (
        "The settings module 'api.settings' could not be loaded: it reads the environment "
        f"variable DEBUG, whose value it cannot use ({said}). Set the variable in the "
        "environment this command runs in (for the service: `site.pyz systemd-unit "
        "--env-file PATH` or `--setenv NAME=VALUE`)."
    )


def test_a_value_error_of_the_settings_own_keeps_its_traceback(tmp_path: Path) -> None:
    try:
        int("many")
    except ValueError as exc:
        assert settings_error(exc, {}, tmp_path, "site.pyz") is None
