from __future__ import annotations

from pathlib import Path

import pytest
from packaging.requirements import Requirement

from django_zipapp.builder.errors import BuildError
from django_zipapp.builder.hashes import added_requirements
from django_zipapp.builder.pip import _raise_for as raise_for
from django_zipapp.builder.requirements import (
    ASGI_REQUIREMENTS,
    RUNTIME_REQUIREMENTS,
    Requirements,
    find_requirements,
)


def test_requirements_txt_is_found(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("Django\n")
    assert find_requirements(tmp_path, None) == Requirements(
        tmp_path / "requirements.txt",
        ("-r", str(tmp_path / "requirements.txt")),
        "Django\n",
        (tmp_path / "requirements.txt",),
    )


def test_requirements_txt_wins_over_pyproject(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("Django\n")
    (tmp_path / "pyproject.toml").write_text('[project]\ndependencies = ["flask"]\n')
    assert find_requirements(tmp_path, None).source.name == "requirements.txt"


def test_pyproject_dependencies(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "site"\ndependencies = ["Django>=5.2", "whitenoise"]\n'
    )
    found = find_requirements(tmp_path, None)
    assert found.pip_args == ("Django>=5.2", "whitenoise")


def test_pyproject_without_project_table_is_not_a_source(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.ruff]\nline-length = 100\n")
    with pytest.raises(BuildError) as caught:
        find_requirements(tmp_path, None)
    assert str(caught.value).startswith(
        f"No dependencies were found for the project in {str(tmp_path)!r}. Add a "
        "requirements.txt there"
    )


def test_explicit_file(tmp_path: Path) -> None:
    (tmp_path / "prod.txt").write_text("-r base.txt\n")
    (tmp_path / "base.txt").write_text("Django\n")
    found = find_requirements(Path("/elsewhere"), str(tmp_path / "prod.txt"))
    assert found.pip_args == ("-r", str(tmp_path / "prod.txt"))


def test_explicit_file_missing(tmp_path: Path) -> None:
    with pytest.raises(BuildError) as caught:
        find_requirements(tmp_path, "missing.txt")
    assert str(caught.value) == (
        "The requirements file 'missing.txt' does not exist. Give the path of a requirements "
        "file or a pyproject.toml with --requirements."
    )


def test_explicit_pyproject_without_dependencies(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    with pytest.raises(BuildError, match="has no \\[project\\] dependencies list"):
        find_requirements(tmp_path, str(tmp_path / "pyproject.toml"))


def test_broken_toml(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[project\n")
    with pytest.raises(BuildError, match="could not be read as TOML"):
        find_requirements(tmp_path, None)


def test_runtime_requirements_are_our_own_dependencies() -> None:
    import importlib.metadata

    from packaging.requirements import Requirement

    ours = {Requirement(r).name.lower() for r in importlib.metadata.requires("django-zipapp") or []}
    needed = {Requirement(r).name.lower() for r in RUNTIME_REQUIREMENTS}
    assert needed <= ours


def test_includes_and_local_paths_are_relative_to_their_file(tmp_path: Path) -> None:
    (tmp_path / "requirements").mkdir()
    (tmp_path / "libs" / "helper").mkdir(parents=True)
    (tmp_path / "requirements" / "base.txt").write_text(
        "Django>=5.2  # the framework\n-e ../libs/helper\n"
        "../libs/helper[extra] ; python_version>'3'\n"
    )
    (tmp_path / "requirements" / "constraints.txt").write_text("Django<7\n")
    (tmp_path / "requirements.txt").write_text(
        "-r requirements/base.txt\n-c requirements/constraints.txt\nwhitenoise \\\n  >=6.6\n"
    )
    found = find_requirements(tmp_path, None)
    helper = tmp_path / "libs" / "helper"
    assert found.flattened == (
        f"Django>=5.2\n{helper}\n{helper}[extra] ; python_version>'3'\n"
        f"-c {tmp_path / 'requirements' / 'constraints.txt'}\nwhitenoise   >=6.6\n"
    )
    assert found.files == (tmp_path / "requirements.txt", tmp_path / "requirements" / "base.txt")
    assert found.install_args(tmp_path) == ["-r", str(tmp_path / "requirements.txt")]


def test_missing_include_names_the_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("Django\n\n-r base.txt\n")
    with pytest.raises(BuildError) as caught:
        find_requirements(tmp_path, None)
    assert str(caught.value) == (
        f"requirements.txt, line 3, names 'base.txt', which does not exist as "
        f"{str(tmp_path / 'base.txt')!r}. Paths in a requirements file are taken from the "
        "file's own folder; fix the path and build again."
    )


def test_include_cycle(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("-r base.txt\n")
    (tmp_path / "base.txt").write_text("--requirement=requirements.txt\n")
    with pytest.raises(BuildError) as caught:
        find_requirements(tmp_path, None)
    assert str(caught.value) == (
        "The requirements files include each other in a cycle: "
        "requirements.txt -> base.txt -> requirements.txt."
    )


def test_found_up_to_the_repository_root(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "requirements.txt").write_text("Django\n")
    project = tmp_path / "backend" / "site"
    project.mkdir(parents=True)
    assert find_requirements(project, None).source == tmp_path / "requirements.txt"
    # Outside a repository, only the project's own folder.
    (tmp_path / ".git").rmdir()
    with pytest.raises(BuildError):
        find_requirements(project, None)


def test_the_last_resolution_is_remembered_and_old_records_are_removed(tmp_path: Path) -> None:
    import os
    import time

    from django_zipapp.builder.dependencies import (
        PREVIOUS_MAX_AGE,
        PREVIOUS_SUBDIR,
        previous_entry,
        remember_entry,
    )

    entry = tmp_path / ("a" * 32) / "site-packages"
    entry.mkdir(parents=True)
    remember_entry(tmp_path, "old", entry)
    stale = time.time() - PREVIOUS_MAX_AGE - 60
    os.utime(tmp_path / PREVIOUS_SUBDIR / "old", (stale, stale))
    assert previous_entry(tmp_path, "old") == entry
    remember_entry(tmp_path, "new", entry)
    assert previous_entry(tmp_path, "new") == entry
    # Not written again for a month: requirements nobody builds any more.
    assert sorted(p.name for p in (tmp_path / PREVIOUS_SUBDIR).iterdir()) == ["new"]
    assert previous_entry(tmp_path, "old") is None
    # Only an entry of this cache is remembered, and a removed entry is no guess.
    remember_entry(tmp_path, "elsewhere", tmp_path.parent / "site-packages")
    assert previous_entry(tmp_path, "elsewhere") is None
    entry.rmdir()
    assert previous_entry(tmp_path, "new") is None


def test_the_asgi_extra_is_what_an_asgi_site_gets() -> None:
    import importlib.metadata

    from packaging.requirements import Requirement

    from django_zipapp.builder.requirements import ASGI_REQUIREMENTS, runtime_requirements

    extra = [
        Requirement(r)
        for r in importlib.metadata.requires("django-zipapp") or []
        if 'extra == "asgi"' in r
    ]
    assert sorted(r.name for r in extra) == sorted(Requirement(r).name for r in ASGI_REQUIREMENTS)
    assert runtime_requirements(asgi=False) == RUNTIME_REQUIREMENTS
    assert runtime_requirements(asgi=True) == RUNTIME_REQUIREMENTS + ASGI_REQUIREMENTS


def test_a_requirement_the_running_copy_satisfies_is_left_to_it(tmp_path: Path) -> None:
    (tmp_path / "base.txt").write_text("Django>=5.2\ndjango-zipapp>=0.1.0.dev0\n")
    (tmp_path / "requirements.txt").write_text("-r base.txt\ndjango_zipapp[asgi]\n")
    found = find_requirements(tmp_path, None)
    assert found.flattened is not None
    lines = found.flattened.splitlines()
    assert lines[0] == "Django>=5.2"
    assert [line for line in lines if "zipapp" in line] == []
    # What the extra needs is installed in its stead.
    assert {Requirement(line).name for line in lines[1:]} == {
        Requirement(r).name for r in ASGI_REQUIREMENTS
    }


def test_a_version_the_running_copy_is_not_is_installed_as_named(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "site"\ndependencies = ["Django", "django-zipapp==0.0.1", '
        '"django-zipapp @ https://example.com/django_zipapp-0.1-py3-none-any.whl"]\n'
    )
    assert find_requirements(tmp_path, None).pip_args == (
        "Django",
        "django-zipapp==0.0.1",
        "django-zipapp @ https://example.com/django_zipapp-0.1-py3-none-any.whl",
    )
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "site"\ndependencies = ["Django", "django-zipapp"]\n'
    )
    assert find_requirements(tmp_path, None).pip_args == ("Django",)


def test_requirements_files_under_other_names_are_named(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "requirements").mkdir()
    (tmp_path / "requirements" / "base.txt").write_text("Django\n")
    (tmp_path / "requirements" / "production.txt").write_text("-r base.txt\npsycopg\n")
    with pytest.raises(BuildError) as raised:
        find_requirements(tmp_path, None)
    assert str(raised.value).endswith(
        " The project directory has these, under other names: requirements/base.txt, "
        "requirements/production.txt. Name the one the server needs: `python manage.py "
        "buildpyz --requirements requirements/production.txt`."
    )


HASH = "--hash=sha256:" + "0" * 64
HASHED = "".join(
    f"{name}==1.0 \\\n    {HASH}\n"
    for name in ("django", "dj-database-url", "goodconf", "gunicorn", "whitenoise")
)


def test_a_hashed_file_that_names_the_runtimes_requirements_gets_nothing_added(
    tmp_path: Path,
) -> None:
    # pip's hash-checking mode refuses every requirement without == and a hash.
    (tmp_path / "requirements.txt").write_text(HASHED)
    found = find_requirements(tmp_path, None)
    assert added_requirements(found, RUNTIME_REQUIREMENTS) == ()
    (tmp_path / "requirements.txt").write_text("Django==5.2\n")
    plain = find_requirements(tmp_path, None)
    assert added_requirements(plain, RUNTIME_REQUIREMENTS) == RUNTIME_REQUIREMENTS


def test_a_hashed_file_without_the_runtimes_requirements_is_refused(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text(f"Django==5.2 \\\n    {HASH}\n")
    with pytest.raises(BuildError) as refused:
        added_requirements(find_requirements(tmp_path, None), RUNTIME_REQUIREMENTS)
    assert str(refused.value) == (
        "requirements.txt pins its requirements with hashes (pip's hash-checking mode), "
        "where pip refuses any requirement without them, so the build cannot add what the "
        "archive needs at run time and the file does not name: dj-database-url>=2.1, "
        "goodconf[yaml,toml]>=7.0, gunicorn>=24.0, whitenoise>=6.6. Add them (or "
        "django-zipapp, which requires them) to the file it is compiled from, and compile "
        "it again (pip-compile --generate-hashes, uv pip compile --generate-hashes; in a uv "
        "project, `uv add` it and `uv export` again)."
    )


def test_a_hashed_file_of_an_asgi_site_names_the_extra_that_brings_the_worker(
    tmp_path: Path,
) -> None:
    named = "".join(
        f"{Requirement(line).name}==1.0 \\\n    {HASH}\n" for line in RUNTIME_REQUIREMENTS
    )
    (tmp_path / "requirements.txt").write_text(named)
    found = find_requirements(tmp_path, None)
    assert added_requirements(found, RUNTIME_REQUIREMENTS) == ()
    with pytest.raises(BuildError) as refused:
        added_requirements(found, RUNTIME_REQUIREMENTS + ASGI_REQUIREMENTS)
    assert "Add them (or django-zipapp[asgi], which requires them)" in str(refused.value)


def test_pips_error_keeps_the_lines_that_go_on_with_it() -> None:
    output = [
        "Collecting django==5.2",
        "ERROR: In --require-hashes mode, all requirements must have their versions "
        "pinned with ==. These do not:",
        "    gunicorn>=24.0 from https://example.org/gunicorn.whl",
        "Something else",
    ]
    with pytest.raises(BuildError) as failed:
        raise_for(1, output)
    assert str(failed.value).endswith(
        "pip said:\nERROR: In --require-hashes mode, all requirements must have their "
        "versions pinned with ==. These do not:\n"
        "    gunicorn>=24.0 from https://example.org/gunicorn.whl"
    )


UV_LOCK = """\
version = 1
requires-python = ">=3.12"

[[package]]
name = "django"
version = "5.2"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "Django-Environ"
version = "0.14.0"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "numpy"
version = "2.2.6"
source = { registry = "https://pypi.org/simple" }
resolution-markers = ["python_full_version < '3.13'"]

[[package]]
name = "numpy"
version = "2.3.5"
source = { registry = "https://pypi.org/simple" }
resolution-markers = ["python_full_version >= '3.13'"]

[[package]]
name = "django-zipapp"
version = "0.1.0"
source = { editable = "../django-zipapp" }

[[package]]
name = "shop"
version = "0.1.0"
source = { virtual = "." }
"""


def test_a_uv_lock_beside_pyproject_pins_what_pip_installs(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "shop"\ndependencies = ["django>=5.2", "django-environ", '
        '"django-zipapp"]\n'
    )
    (tmp_path / "uv.lock").write_text(UV_LOCK)
    found = find_requirements(tmp_path, None)
    # Only releases from an index, each locked in one version; never django-zipapp.
    assert found.constraints == ("django==5.2", "django-environ==0.14.0")
    assert found.lock == tmp_path / "uv.lock"
    assert found.files == (tmp_path / "pyproject.toml", tmp_path / "uv.lock")
    assert found.described == "pyproject.toml (versions from uv.lock)"
    staging = tmp_path / "staging"
    staging.mkdir()
    args = found.install_args(staging)
    assert args == ["-c", str(staging / "constraints.txt"), "django>=5.2", "django-environ"]
    assert (staging / "constraints.txt").read_text() == "django==5.2\ndjango-environ==0.14.0\n"


def test_a_poetry_lock_pins_releases_from_an_index(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "shop"\ndependencies = ["django>=5.2", "helper", "internal"]\n'
    )
    (tmp_path / "poetry.lock").write_text(
        '[[package]]\nname = "django"\nversion = "5.2.1"\n\n'
        '[[package]]\nname = "helper"\nversion = "1.0"\n\n'
        '[package.source]\ntype = "directory"\nurl = "libs/helper"\n\n'
        '[[package]]\nname = "internal"\nversion = "2.0"\n\n'
        '[package.source]\ntype = "legacy"\nurl = "https://pypi.example.com/simple"\n'
    )
    found = find_requirements(tmp_path, None)
    assert found.constraints == ("django==5.2.1", "internal==2.0")
    assert found.described == "pyproject.toml (versions from poetry.lock)"


def test_a_lock_older_than_the_dependencies_is_refused(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "shop"\ndependencies = ["Django>=6.0"]\n'
    )
    (tmp_path / "uv.lock").write_text(UV_LOCK)
    with pytest.raises(BuildError) as caught:
        find_requirements(tmp_path, None)
    assert str(caught.value) == (
        "uv.lock locks Django 5.2, which pyproject.toml does not allow ('Django>=6.0'): the "
        "lock is older than the dependencies. Bring it up to date with `uv lock` and build "
        "again."
    )


def test_a_lock_pin_below_a_runtime_floor_is_refused(tmp_path: Path) -> None:
    from django_zipapp.builder.floors import refuse_pins_below_floors

    (tmp_path / "pyproject.toml").write_text('[project]\nname = "shop"\ndependencies = []\n')
    (tmp_path / "uv.lock").write_text(
        '[[package]]\nname = "gunicorn"\nversion = "22.0.0"\n'
        'source = { registry = "https://pypi.org/simple" }\n'
    )
    with pytest.raises(BuildError) as caught:
        refuse_pins_below_floors(find_requirements(tmp_path, None), RUNTIME_REQUIREMENTS)
    assert str(caught.value).startswith(
        "The project pins gunicorn 22.0.0 (in uv.lock), below its floor 24.0:"
    )


def test_dependencies_only_poetry_reads_are_named(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.poetry]\nname = "shop"\n\n[tool.poetry.dependencies]\npython = "^3.12"\n'
        'django = "^5.2"\n'
    )
    with pytest.raises(BuildError) as caught:
        find_requirements(tmp_path, None)
    assert str(caught.value).endswith(
        f" {str(tmp_path / 'pyproject.toml')!r} lists them under [tool.poetry.dependencies], "
        "which only Poetry reads: move them to [project] dependencies (Poetry 2 reads those, "
        "and the build installs the versions poetry.lock locks), or export them with `poetry "
        "export --without-hashes -o requirements.txt` (the export command comes with the "
        "poetry-plugin-export plugin)."
    )


@pytest.mark.heavy
def test_pip_resolves_the_locked_versions(tmp_path: Path) -> None:
    from django_zipapp.builder.hashes import added_requirements
    from django_zipapp.builder.pip import Resolution
    from django_zipapp.builder.target import make_target

    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "shop"\ndependencies = ["django>=5.2", "django-environ"]\n'
    )
    (tmp_path / "uv.lock").write_text(UV_LOCK)
    found = find_requirements(tmp_path, None)
    target = make_target((), None)
    args = [*found.install_args(tmp_path), *added_requirements(found, RUNTIME_REQUIREMENTS)]
    resolved = Resolution(
        args, cwd=tmp_path, target_args=target.pip_args(), python=target.python
    ).result()
    versions = {item["metadata"]["name"].lower(): item["metadata"]["version"] for item in resolved}
    # Not the newest releases that [project] dependencies allow: those the lock holds.
    assert versions["django"] == "5.2"
    assert versions["django-environ"] == "0.14.0"


def test_a_hashed_file_keeps_the_extras_requirements_it_pins_itself(tmp_path: Path) -> None:
    import django_zipapp

    (tmp_path / "requirements.txt").write_text(
        f"django-zipapp[asgi]=={django_zipapp.__version__} \\\n    {HASH}\n"
        f"uvicorn-worker==0.3.0 \\\n    {HASH}\n"
    )
    found = find_requirements(tmp_path, None)
    # Not the extra's unpinned requirements, which pip's hash-checking mode refuses.
    assert found.flattened == f"uvicorn-worker==0.3.0     {HASH}\n"


def test_a_workspace_members_versions_come_from_the_workspaces_uv_lock(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "monorepo"\nversion = "0"\n\n'
        '[tool.uv.workspace]\nmembers = ["backend"]\n'
    )
    (tmp_path / "uv.lock").write_text(UV_LOCK)
    backend = tmp_path / "backend"
    backend.mkdir()
    (backend / "pyproject.toml").write_text(
        '[project]\nname = "shop"\ndependencies = ["django>=5.2"]\n'
    )
    found = find_requirements(backend, None)
    assert (found.source, found.lock) == (backend / "pyproject.toml", tmp_path / "uv.lock")
    assert "django==5.2" in found.constraints
    # Outside a repository, nothing above the project is searched.
    (tmp_path / ".git").rmdir()
    assert find_requirements(backend, None).lock is None
    (tmp_path / ".git").mkdir()
    # A uv.lock above that is not a workspace's root is another project's.
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "other"\nversion = "0"\n')
    assert find_requirements(backend, None).lock is None


def test_a_hashed_file_that_installs_a_local_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "libs" / "helper").mkdir(parents=True)
    runtime = "".join(
        f"{Requirement(line).name}==1.0 \\\n    {HASH}\n" for line in RUNTIME_REQUIREMENTS
    )
    (tmp_path / "requirements.txt").write_text(f"-e ./libs/helper\n{runtime}")
    with pytest.raises(BuildError) as refused:
        added_requirements(find_requirements(tmp_path, None), RUNTIME_REQUIREMENTS)
    assert str(refused.value) == (
        "requirements.txt pins its requirements with hashes (pip's hash-checking mode) and "
        f"installs the local folder {str(tmp_path / 'libs' / 'helper')!r}, whose hash pip "
        "cannot check, so pip would refuse it. Build from a file without hashes (`uv export "
        "--no-hashes`, `poetry export --without-hashes`), or install that package from an "
        "index or a wheel with its hash."
    )


def test_a_cancelled_resolution_leaves_nothing_in_the_temporary_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile
    import time

    from django_zipapp.builder.pip import Resolution
    from django_zipapp.builder.target import make_target

    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setenv("TMPDIR", str(temporary))
    monkeypatch.setattr(tempfile, "tempdir", None)  # read TMPDIR again
    target = make_target((), None)
    resolution = Resolution(
        ["django>=5.2"], cwd=tmp_path, target_args=target.pip_args(), python=target.python
    )
    # Cancelled (a build that failed) once pip has made its own temporary folders.
    deadline = time.monotonic() + 60
    while not any(path.name.startswith("pip-") for path in temporary.rglob("pip-*")):
        assert time.monotonic() < deadline, "pip made no temporary folder"
        time.sleep(0.05)
    resolution.cancel()
    assert sorted(path.name for path in temporary.iterdir()) == []
