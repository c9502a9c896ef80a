"""The archive's refusal to keep a SQLite database where deploys delete files."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import override_settings

from django_zipapp.runtime.config import ConfigError
from django_zipapp.runtime.databases import refuse_databases_inside

pytestmark = pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")


def databases(**names: object) -> override_settings:
    engine = "django.db.backends.sqlite3"
    return override_settings(
        DATABASES={alias: {"ENGINE": engine, "NAME": name} for alias, name in names.items()}
    )


def test_a_database_inside_the_extraction_is_refused(tmp_path: Path) -> None:
    inside = tmp_path / "site.pyz_0123" / "site-packages" / "db.sqlite3"
    with (
        databases(default=tmp_path.parent / "state.sqlite3", cache=inside),
        pytest.raises(ConfigError) as caught,
    ):
        refuse_databases_inside(tmp_path)
    assert str(caught.value).startswith(
        f"DATABASES['cache']['NAME'] is {str(inside)!r}, inside {str(tmp_path)!r}, the folder "
        "this archive unpacks itself into"
    )


def test_a_relative_name_is_taken_from_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with databases(default="db.sqlite3"), pytest.raises(ConfigError):
        refuse_databases_inside(tmp_path)


@pytest.mark.parametrize("name", [":memory:", "file:memdb?mode=memory&cache=shared", ""])
def test_databases_that_are_no_files_there_pass(tmp_path: Path, name: str) -> None:
    with databases(default=name, other=tmp_path.parent / "elsewhere.sqlite3"):
        refuse_databases_inside(tmp_path)


def test_other_engines_pass(tmp_path: Path) -> None:
    engine = {"ENGINE": "django.db.backends.postgresql", "NAME": str(tmp_path / "site")}
    with override_settings(DATABASES={"default": engine}):
        refuse_databases_inside(tmp_path)
