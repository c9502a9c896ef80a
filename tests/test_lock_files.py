"""The lock files of pipenv and PDM, as those tools write them (tests/locks/, each made
with `pipenv lock` or `pdm lock`), read into what pip installs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from django_zipapp.builder.errors import BuildError
from django_zipapp.builder.requirements import find_requirements

LOCKS = Path(__file__).parent / "locks"


@pytest.fixture
def pipenv_project(tmp_path: Path) -> Path:
    """A git repository whose Pipfile and Pipfile.lock sit above src/, beside no
    requirements.txt or pyproject.toml."""
    shutil.copytree(LOCKS / "pipenv", tmp_path, dirs_exist_ok=True)
    (tmp_path / ".git").mkdir()
    (tmp_path / "src").mkdir()
    return tmp_path


def test_a_pipfile_lock_is_what_pip_installs(pipenv_project: Path) -> None:
    found = find_requirements(pipenv_project / "src", None)
    assert found.source == pipenv_project / "Pipfile.lock"
    assert found.files == (pipenv_project / "Pipfile", pipenv_project / "Pipfile.lock")
    assert found.described == "Pipfile.lock"
    # Every locked package of [packages], pinned with its markers; a local folder from
    # the Pipfile's own; [dev-packages] (iniconfig) is not installed.
    assert found.flattened == (
        "asgiref==3.13.0; python_version >= '3.11'\n"
        "django==5.2.20; python_version >= '3.10'\n"
        f"{pipenv_project / 'libs' / 'helper'}\n"
        "python-decouple==3.8\n"
        "sqlparse==0.6.1; python_version >= '3.10'\n"
    )
    staging = pipenv_project / "staging"
    staging.mkdir()
    assert found.install_args(staging) == ["-r", str(staging / "requirements.txt")]
    # The local folder is installed from a copy, as one a requirements file names.
    assert (staging / "requirements.txt").read_text().splitlines()[2] == str(
        staging / "local" / "2" / "helper"
    )


def test_a_pipfile_lock_can_be_named(pipenv_project: Path) -> None:
    for name in ("Pipfile", "Pipfile.lock"):
        found = find_requirements(Path("/elsewhere"), str(pipenv_project / name))
        assert found.source == pipenv_project / "Pipfile.lock"


def test_a_pipfile_without_its_lock_is_refused(pipenv_project: Path) -> None:
    (pipenv_project / "Pipfile.lock").unlink()
    with pytest.raises(BuildError) as caught:
        find_requirements(pipenv_project / "src", None)
    assert str(caught.value) == (
        f"{str(pipenv_project / 'Pipfile')!r} has no Pipfile.lock beside it, and the build "
        "installs the versions a lock holds: write one with `pipenv lock` and build again."
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            'django = ">=6.0"',
            "Pipfile.lock locks django 5.2.20, which Pipfile does not allow ('>=6.0'): the "
            "lock is older than the Pipfile. Bring it up to date with `pipenv lock` and "
            "build again.",
        ),
        (
            'django = "*"\ndjango-filter = "*"',
            "Pipfile lists django-filter, which Pipfile.lock does not lock: the lock is older "
            "than the Pipfile. Bring it up to date with `pipenv lock` and build again.",
        ),
    ],
)
def test_a_pipfile_lock_older_than_the_pipfile_is_refused(
    pipenv_project: Path, line: str, message: str
) -> None:
    pipfile = pipenv_project / "Pipfile"
    pipfile.write_text(pipfile.read_text().replace('django = ">=5.2,<6.0"', line))
    with pytest.raises(BuildError) as caught:
        find_requirements(pipenv_project / "src", None)
    assert str(caught.value) == message


def test_a_damaged_pipfile_lock_is_named(pipenv_project: Path) -> None:
    (pipenv_project / "Pipfile.lock").write_text('{"default": ')
    with pytest.raises(BuildError) as caught:
        find_requirements(pipenv_project / "src", None)
    assert str(caught.value).startswith(
        f"{str(pipenv_project / 'Pipfile.lock')!r} could not be read as JSON: "
    )


def test_django_zipapp_from_a_checkout_is_left_to_the_running_copy(
    pipenv_project: Path,
) -> None:
    # `pipenv install -e ../django-zipapp` locks the folder, whose version the running
    # copy stands for; other sources of a lock's entries, as pipenv writes them.
    lock = json.loads((pipenv_project / "Pipfile.lock").read_text())
    lock["default"] = {
        "django-zipapp": {"editable": True, "path": "../django-zipapp"},
        "widgets": {"git": "https://example.com/widgets.git", "ref": "0123abc"},
        "gadgets": {"file": "https://example.com/gadgets-1.0.tar.gz"},
        "goodconf": {"extras": ["toml", "yaml"], "version": "==7.1.0"},
    }
    (pipenv_project / "Pipfile.lock").write_text(json.dumps(lock))
    (pipenv_project / "Pipfile").write_text("[packages]\n")
    assert find_requirements(pipenv_project, None).flattened == (
        "gadgets @ https://example.com/gadgets-1.0.tar.gz\n"
        "goodconf[toml,yaml]==7.1.0\n"
        "widgets @ git+https://example.com/widgets.git@0123abc\n"
    )


def test_a_pdm_lock_pins_releases_from_an_index(tmp_path: Path) -> None:
    shutil.copytree(LOCKS / "pdm", tmp_path, dirs_exist_ok=True)
    found = find_requirements(tmp_path, None)
    assert found.lock == tmp_path / "pdm.lock"
    assert found.described == "pyproject.toml (versions from pdm.lock)"
    # Not the local folder (helper); the dev group's iniconfig only constrains.
    assert found.constraints == (
        "asgiref==3.12.1",
        "django==5.2.20",
        "iniconfig==2.3.1",
        "python-decouple==3.8",
        "sqlparse==0.6.1",
        "typing-extensions==4.16.0",
        "tzdata==2026.6",
    )


def test_a_pdm_lock_older_than_the_dependencies_is_refused(tmp_path: Path) -> None:
    shutil.copytree(LOCKS / "pdm", tmp_path, dirs_exist_ok=True)
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace("django>=5.2,<6.0", "django>=6.0"))
    with pytest.raises(BuildError) as caught:
        find_requirements(tmp_path, None)
    assert str(caught.value) == (
        "pdm.lock locks django 5.2.20, which pyproject.toml does not allow ('django>=6.0'): "
        "the lock is older than the dependencies. Bring it up to date with `pdm lock` and "
        "build again."
    )


def test_a_pdm_local_folder_is_taken_from_the_project_root(tmp_path: Path) -> None:
    shutil.copytree(LOCKS / "pdm", tmp_path, dirs_exist_ok=True)
    found = find_requirements(tmp_path, None)
    assert found.pip_args[2] == f"helper @ file://{tmp_path.as_posix()}/libs/helper"


def test_a_pyproject_that_lists_no_dependencies_leaves_them_to_the_pipfile(
    pipenv_project: Path,
) -> None:
    # A [project] table that only names the project, for the version of its builds.
    (pipenv_project / "pyproject.toml").write_text('[project]\nname = "api"\nversion = "1.2"\n')
    assert find_requirements(pipenv_project / "src", None).source.name == "Pipfile.lock"
