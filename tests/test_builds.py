"""How many builds to keep: the site's configuration, else KEEP_BUILDS, else 3."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from django_zipapp.runtime.builds import keep_builds
from django_zipapp.runtime.config import ConfigError


def test_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KEEP_BUILDS", raising=False)
    assert keep_builds(None) == 3
    assert keep_builds(SimpleNamespace()) == 3


def test_configuration_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEEP_BUILDS", "5")
    assert keep_builds(SimpleNamespace(KEEP_BUILDS=2)) == 2
    assert keep_builds(SimpleNamespace()) == 5


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_invalid_environment_value(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("KEEP_BUILDS", value)
    with pytest.raises(ConfigError) as caught:
        keep_builds(None)
    assert str(caught.value) == (
        "KEEP_BUILDS must be a whole number of 1 or more (the running build counts), "
        f"but it is {value!r}."
    )
