"""E008's hint in the type of BASE_DIR, W002 for any literal key, E012 for module collisions."""

from __future__ import annotations

import importlib
import importlib.util
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import override_settings

from django_zipapp.checks import check_archive_settings, check_modules
from django_zipapp.collisions import find_collisions, installed_providers

SAFE_KEY = "from-the-environment-" * 3


@pytest.mark.parametrize(
    ("base_dir", "hint"),
    [
        ("/srv/site", "os.path.join(BASE_DIR, 'assets')"),
        (Path("/srv/site"), "BASE_DIR / 'assets'"),
    ],
)
def test_relative_dir_hint_fits_base_dir(base_dir: str | Path, hint: str) -> None:
    with override_settings(SECRET_KEY=SAFE_KEY, BASE_DIR=base_dir, STATICFILES_DIRS=["assets"]):
        (message,) = check_archive_settings()
    assert message.id == "django_zipapp.E008"
    assert message.hint == f"Build the path from BASE_DIR, for example {hint}."


@pytest.fixture
def settings_file(tmp_path: Path) -> Iterator[Path]:
    """A project module holding a short fallback key, imported as the settings are."""
    path = tmp_path / "shortkey_settings.py"
    path.write_text('import os\nSECRET_KEY = os.environ.get("SECRET_KEY", "---")\n')
    spec = importlib.util.spec_from_file_location("shortkey_settings", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["shortkey_settings"] = module
    spec.loader.exec_module(module)
    yield path
    del sys.modules["shortkey_settings"]


def test_short_literal_fallback_key_is_found(settings_file: Path) -> None:
    with override_settings(SECRET_KEY="---", BASE_DIR=settings_file.parent):
        (message,) = check_archive_settings()
    assert message.id == "django_zipapp.W002"
    assert message.msg.startswith("SECRET_KEY is written literally in 'shortkey_settings.py'")
    # Only a whole literal counts: a key that merely occurs inside other text does not.
    with override_settings(SECRET_KEY="SECRET", BASE_DIR=settings_file.parent):
        assert check_archive_settings() == []


@pytest.fixture(scope="module")
def two_dotenvs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """django-dotenv and python-dotenv, from PyPI, installed side by side."""
    target = tmp_path_factory.mktemp("dotenvs")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target",
         str(target), "django-dotenv==1.4.2", "python-dotenv"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return target


def test_two_distributions_of_one_module(two_dotenvs: Path) -> None:
    (collision,) = find_collisions(installed_providers([str(two_dotenvs)]))
    assert collision.name == "dotenv"
    assert collision.problem().startswith("The top-level module 'dotenv' is provided by both ")
    assert "django-dotenv 1.4.2 (dotenv.py)" in collision.problem()
    assert "python-dotenv " in collision.problem()
    assert "replace django-dotenv" in collision.way_out()


def test_the_check_sees_the_environment(two_dotenvs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert check_modules() == []
    monkeypatch.syspath_prepend(str(two_dotenvs))
    (message,) = check_modules()
    assert message.id == "django_zipapp.E012"
    assert "'dotenv'" in message.msg


def test_a_project_module_named_like_a_distribution(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "gunicorn.py").write_text("")
    with override_settings(BASE_DIR=tmp_path):
        (message,) = check_modules()
    assert message.msg.startswith(
        "The top-level module 'gunicorn' is provided by both the project (gunicorn.py) and "
        "gunicorn "
    )


@pytest.fixture
def settings_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A settings package whose base.py, run by django-split-settings rather than
    imported, writes the key; a models.py, imported, holds the same "---" for a choice."""
    site = tmp_path / "site"
    files = {
        "settings/__init__.py": "",
        "settings/production.py": 'from split_settings.tools import include\ninclude("base.py")\n',
        "settings/base.py": 'SECRET_KEY = env("DJANGO_SECRET_KEY", default="---")\n',
        "models.py": 'CHOICES = [("", "---"), ("a", "A")]\n',
    }
    for name, text in files.items():
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        (site / name).write_text(text)
    for module, name in (("site.settings.production", "settings/production.py"),
                         ("site.models", "models.py")):  # fmt: skip
        loaded = types.ModuleType(module)
        loaded.__file__ = str(site / name)
        monkeypatch.setitem(sys.modules, module, loaded)
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "site.settings.production")
    return tmp_path


def test_the_file_that_binds_the_key_is_named(settings_package: Path) -> None:
    with override_settings(SECRET_KEY="---", BASE_DIR=settings_package):
        (message,) = check_archive_settings()
    assert message.id == "django_zipapp.W002"
    assert message.msg.startswith("SECRET_KEY is written literally in 'site/settings/base.py',")


def test_a_short_value_elsewhere_is_not_the_key(settings_package: Path) -> None:
    (settings_package / "site" / "settings" / "base.py").write_text(
        'SECRET_KEY = env("DJANGO_SECRET_KEY")\n'
    )
    with override_settings(SECRET_KEY="---", BASE_DIR=settings_package):
        assert check_archive_settings() == []
    # A value as long as a real key is one wherever it is written.
    key = "k" + "3y-".join("abcdefghijklmnopq")
    (settings_package / "site" / "models.py").write_text(f"FALLBACK = {key!r}\n")
    with override_settings(SECRET_KEY=key, BASE_DIR=settings_package):
        (message,) = check_archive_settings()
    assert message.msg.startswith("SECRET_KEY is written literally in 'site/models.py',")


DOTENV_SETTINGS = """
import os
from pathlib import Path

from dotenv import load_dotenv

BASE_DIR = Path(__file__).resolve().parent.parent
load_dotenv(BASE_DIR / ".env")
DEBUG = os.environ.get("DEBUG", "{default}") == "True"
"""


DECOUPLE_SETTINGS = """
from decouple import config

SECRET_KEY = config("SECRET_KEY")
DEBUG = config("DEBUG", default={default}, cast=bool)
"""


LOCAL_SETTINGS = """
DEBUG = False
try:
    from .local_settings import *
except ImportError:
    pass
"""


@pytest.mark.parametrize(("ignored", "ids"), [(True, []), (False, ["django_zipapp.W003"])])
def test_debug_that_only_a_git_ignored_local_settings_module_turns_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ignored: bool, ids: list[str]
) -> None:
    """A local_settings.py that git ignores is never packed: the archive runs without it."""
    package = tmp_path / "localsite"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "settings.py").write_text(LOCAL_SETTINGS)
    (package / "local_settings.py").write_text("DEBUG = True\n")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    if ignored:
        (tmp_path / ".gitignore").write_text("local_settings.py\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "localsite.settings")
    names = ("localsite", "localsite.settings", "localsite.local_settings")
    try:
        assert importlib.import_module("localsite.settings").DEBUG is True
        with override_settings(DEBUG=True, BASE_DIR=tmp_path, SECRET_KEY=SAFE_KEY):
            assert [message.id for message in check_archive_settings()] == ids
    finally:
        for name in names:
            sys.modules.pop(name, None)


@pytest.mark.parametrize(("default", "ids"), [("False", []), ("True", ["django_zipapp.W003"])])
def test_debug_that_only_a_development_dotenv_file_turns_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, default: str, ids: list[str]
) -> None:
    """The .env file is never packed: the archive's DEBUG is the settings' own default."""
    (tmp_path / "devsite").mkdir()
    (tmp_path / "devsite" / "__init__.py").write_text("")
    (tmp_path / "devsite" / "settings.py").write_text(DOTENV_SETTINGS.format(default=default))
    (tmp_path / ".env").write_text("export DEBUG='True'\n")
    monkeypatch.setenv("DEBUG", "True")  # as load_dotenv left it in the build's environment
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "devsite.settings")
    with override_settings(DEBUG=True, BASE_DIR=tmp_path, SECRET_KEY=SAFE_KEY):
        assert [message.id for message in check_archive_settings()] == ids


@pytest.mark.parametrize(("default", "ids"), [("False", []), ("True", ["django_zipapp.W003"])])
def test_debug_that_only_a_decouple_dotenv_file_turns_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, default: str, ids: list[str]
) -> None:
    """python-decouple reads the .env file itself, without putting its values into the
    environment; the file is never packed, so the archive's DEBUG is the default."""
    import decouple

    (tmp_path / "decoupled").mkdir()
    (tmp_path / "decoupled" / "__init__.py").write_text("")
    (tmp_path / "decoupled" / "settings.py").write_text(DECOUPLE_SETTINGS.format(default=default))
    (tmp_path / ".env").write_text(f"SECRET_KEY={SAFE_KEY}\nDEBUG=True\n")
    monkeypatch.delenv("DEBUG", raising=False)
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "decoupled.settings")
    # decouple's `config` finds its file once, from the module that first calls it.
    monkeypatch.setattr(decouple.config, "config", None)
    try:
        assert importlib.import_module("decoupled.settings").DEBUG is True
        with override_settings(DEBUG=True, BASE_DIR=tmp_path, SECRET_KEY=SAFE_KEY):
            assert [message.id for message in check_archive_settings()] == ids
    finally:
        for name in ("decoupled", "decoupled.settings"):
            sys.modules.pop(name, None)
