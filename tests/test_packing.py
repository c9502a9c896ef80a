"""Honest packing and module collisions, each with a real build of example_project.

A read-only SQLite file queried at run time is left out by the "database" rule, named in
the summary with the option that ships it, and the verification catches the page that
needs it; --include ships it. In a git checkout, ignored files stay out. A requirement on
django-dotenv (from PyPI) collides with python-dotenv, which goodconf needs.
"""

from __future__ import annotations

import sqlite3
import subprocess
import zipfile
from pathlib import Path

import pytest

from django_zipapp.builder.packing import GIT_IGNORED, LOCK, TOOLING, LeftOut, default_skips

from .archives import build_in, copy_example

SEARCH_VIEW = """

def search(request):
    import sqlite3
    from django.conf import settings
    from django.http import HttpResponse

    path = settings.BASE_DIR / "notes" / "search.sqlite3"
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
        (word,) = connection.execute("select word from words").fetchone()
    return HttpResponse(word)


urlpatterns.append(path("search/", search))
"""


def git(project: Path, *args: str) -> None:
    identity = ["-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", *identity, *args], cwd=project, check=True, capture_output=True)


@pytest.fixture(scope="module")
def searchable(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = copy_example(tmp_path_factory.mktemp("search") / "project")
    with sqlite3.connect(project / "notes" / "search.sqlite3") as connection:
        connection.execute("create table words (word text)")
        connection.execute("insert into words values ('honey')")
    connection.close()
    with (project / "example" / "urls.py").open("a") as urls:
        urls.write(SEARCH_VIEW)
    with (project / "example" / "settings.py").open("a") as settings:
        settings.write('\nZIPAPP_VERIFY_URLS = ["/", "/search/"]\n')
    (project / "notes" / "scratch.txt").write_text("a developer's notes\n")
    (project / ".gitignore").write_text("scratch.txt\n")
    (project / "Dockerfile").write_text("FROM debian\n")
    git(project, "init", "-q")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "search")
    return project


@pytest.mark.e2e
def test_a_data_file_left_out_is_named_and_caught(searchable: Path) -> None:
    output = searchable.parent / "dist" / "site.pyz"
    output.parent.mkdir()
    result = build_in(searchable, "-o", str(output), verify=True)
    lines = result.stdout.splitlines()
    assert (
        "- Note: left out notes/search.sqlite3 (database); --include notes/search.sqlite3 "
        "ships it" in lines
    )
    assert (
        "- Note: left out notes/scratch.txt (ignored by git); --include notes/scratch.txt "
        "ships it" in lines
    )
    assert (
        "- Note: left out Dockerfile (build or deploy tooling, not read by the site); "
        "--include Dockerfile ships it" in lines
    )
    assert result.returncode == 1
    assert "GET /search/ answered 500" in result.stderr
    assert "sqlite3.OperationalError" in result.stderr
    assert list(output.parent.iterdir()) == []


@pytest.mark.e2e
def test_include_ships_the_data_file(searchable: Path) -> None:
    output = searchable.parent / "included.pyz"
    include = ["--include", "notes/search.sqlite3"]
    result = build_in(searchable, "-o", str(output), *include, verify=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "search.sqlite3" not in "".join(
        line for line in result.stdout.splitlines() if "Note" in line
    )
    with zipfile.ZipFile(output) as archive:
        names = archive.namelist()
    assert "site-packages/notes/search.sqlite3" in names
    assert [n for n in names if n.endswith(("scratch.txt", "Dockerfile"))] == []


def test_default_skips_outside_git(tmp_path: Path) -> None:
    (tmp_path / "Vagrantfile").write_text("")
    (tmp_path / "package-lock.json").write_text("{}")
    (tmp_path / "uv.lock").write_text("version = 1\n")
    (tmp_path / "poetry.lock").write_text("")
    (tmp_path / "requirements.txt").write_text("")
    (tmp_path / "pyproject.toml").write_text("")
    assert default_skips(tmp_path) == {
        tmp_path / "Vagrantfile": TOOLING,
        tmp_path / "package-lock.json": TOOLING,
        tmp_path / "poetry.lock": LOCK,
        tmp_path / "uv.lock": LOCK,
    }


def test_default_skips_in_a_checkout(tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_text("*.log\nlocal/\n")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "debug.log").write_text("")
    (tmp_path / "local").mkdir()
    (tmp_path / "local" / "x.py").write_text("")
    (tmp_path / "app" / "models.py").write_text("")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "app")
    assert default_skips(tmp_path) == {
        tmp_path / "app" / "debug.log": GIT_IGNORED,
        tmp_path / "local": GIT_IGNORED,
    }


def test_compiled_catalogues_of_tracked_sources_ship_though_git_ignores_them(
    tmp_path: Path,
) -> None:
    """compilemessages' .mo beside a .po git tracks ships, whatever .gitignore says of *.mo."""
    (tmp_path / ".gitignore").write_text("*.mo\nscratch/\n")
    messages = tmp_path / "locale" / "de" / "LC_MESSAGES"
    scratch = tmp_path / "scratch" / "locale" / "fr" / "LC_MESSAGES"
    for folder in (messages, scratch):
        folder.mkdir(parents=True)
        (folder / "django.po").write_text('msgid ""\nmsgstr ""\n')
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "catalogues")
    for folder in (messages, scratch):
        (folder / "django.mo").write_bytes(b"compiled")
    (messages / "djangojs.mo").write_bytes(b"no source beside it")
    assert default_skips(tmp_path) == {
        messages / "djangojs.mo": GIT_IGNORED,
        tmp_path / "scratch": GIT_IGNORED,
    }


@pytest.mark.e2e
def test_django_dotenv_collides_with_python_dotenv(tmp_path: Path) -> None:
    project = copy_example(tmp_path / "project")
    with (project / "requirements.txt").open("a") as requirements:
        requirements.write("django-dotenv==1.4.2\n")
    wsgi = project / "example" / "wsgi.py"
    wsgi.write_text("import dotenv\n\ndotenv.read_dotenv()\n" + wsgi.read_text())
    result = build_in(project, "-o", str(tmp_path / "site.pyz"))
    assert result.returncode == 1
    message = result.stderr
    assert message.startswith(
        "CommandError: No archive was built: The top-level module 'dotenv' is provided by both "
    )
    assert "django-dotenv 1.4.2 (dotenv.py)" in message
    assert "python-dotenv " in message
    assert "so replace django-dotenv: python-dotenv's `load_dotenv(BASE_DIR / '.env')`" in message
    assert not (tmp_path / "site.pyz").exists()


def test_private_files_are_never_invited_in(tmp_path: Path) -> None:
    """A private file git ignores is left out without a note offering --include."""
    names = [".envrc", "deploy.key", "secrets/api.json", "scratch.txt", ".env.production"]
    for name in names:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x\n")
    (tmp_path / ".gitignore").write_text("\n".join(names) + "\n")
    git(tmp_path, "init", "-q")
    skips = default_skips(tmp_path)
    left_out = LeftOut(tmp_path.resolve())
    for path, reason in skips.items():
        left_out(path, reason)
    notes: list[str] = []
    left_out.report(notes.append)
    assert notes == ["Note: left out scratch.txt (ignored by git); --include scratch.txt ships it"]
    assert skips[tmp_path / ".envrc"] == "ignored by git, and private: never packed"
    assert skips[tmp_path / "secrets"] == "ignored by git, and private: never packed"
