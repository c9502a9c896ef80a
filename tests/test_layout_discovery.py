"""What of a project's tree goes into the archive, and build commands' failures."""

from __future__ import annotations

import shutil
from pathlib import Path, PurePosixPath

import pytest
from django.test import override_settings

from django_zipapp.builder.commands import parse_command, run_build_commands
from django_zipapp.builder.errors import BuildError
from django_zipapp.builder.project import (
    Project,
    data_dirs,
    included_path,
    package_folders,
    root_files,
    static_sources,
)
from django_zipapp.builder.source_roots import source_roots
from django_zipapp.conf import conf


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for name in ("pages/__init__.py", "facts/__init__.py", "2fa/__init__.py", "static/x.css"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    for name in ("manage.py", "CHANGELOG.md", ".env", "notes.txt"):
        (tmp_path / name).write_text("")
    (tmp_path / "content").mkdir()
    return tmp_path


def test_folders_with_an_init_are_packages_even_when_nothing_imported_them(tree: Path) -> None:
    assert package_folders(tree, exclude=["pages"]) == ("facts",)


def test_folders_on_sys_path_inside_the_project_hold_packages(tree: Path) -> None:
    # A src layout: manage.py puts src/ on sys.path; a virtualenv inside the project and
    # the project root itself are not such folders.
    venv = tree / ".venv/lib/python3.12/site-packages"
    for folder in (tree / "src/reports", venv, tree / "src/empty"):
        folder.mkdir(parents=True)
    (tree / "src/reports/__init__.py").write_text("")
    path = [str(tree / "src"), str(venv), str(tree), str(tree.parent), str(tree / "missing")]
    roots = source_roots(tree, path)
    assert roots == (PurePosixPath("src"),)
    assert package_folders(tree, exclude=["pages"], roots=roots) == ("facts", "src/reports")


def test_a_folder_on_sys_path_that_is_a_package_is_copied_once(tree: Path) -> None:
    # cookiecutter-django's manage.py and wsgi.py put its apps' folder, myproj/, itself a
    # package, on sys.path: its apps are found as packages of that folder too.
    for name in ("myproj/__init__.py", "myproj/users/__init__.py", "config/__init__.py"):
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_text("")
    roots = source_roots(tree, [str(tree / "myproj")])
    found = package_folders(tree, exclude=["config", "myproj"], roots=roots)
    assert found == ("facts", "myproj/users", "pages")
    project = Project(
        root=tree,
        name="config",
        settings_module="config.settings.production",
        packages=("config", "myproj"),
        data_dirs=(),
        static_root=PurePosixPath("staticfiles"),
        config_object=None,
        unimported_packages=found,
        python_path=roots,
    )
    assert project.copied_packages == ("config", "myproj", "facts", "pages")
    assert "users" in project.module_names  # importable as `users` too, as in development


def test_files_next_to_manage_py(tree: Path) -> None:
    # Hidden files stay out here; the copy leaves out .env and databases by its own rules.
    assert root_files(tree) == tuple(
        PurePosixPath(name) for name in ("CHANGELOG.md", "manage.py", "notes.txt")
    )


def test_included_paths(tree: Path) -> None:
    assert included_path(tree, "content") == PurePosixPath("content")
    assert included_path(tree, str(tree / "static" / "x.css")) == PurePosixPath("static/x.css")


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("missing", "The included path 'missing' does not exist in the project directory"),
        ("..", "The included path '..' is not inside the project directory"),
        (".", "The included path '.' is not inside the project directory"),
    ],
)
def test_included_paths_refused(tree: Path, path: str, message: str) -> None:
    with pytest.raises(BuildError) as caught:
        included_path(tree, path)
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize(
    ("path", "kind"), [(".venv", "virtualenv"), ("env", "virtualenv"), (".git", "version control")]
)
def test_a_folder_no_archive_holds_is_refused_even_included(
    tree: Path, path: str, kind: str
) -> None:
    # `buildpyz --list` names a git-ignored folder with the --include that ships it; a
    # virtualenv (any name: its pyvenv.cfg) or .git never ships, even named on purpose.
    (tree / path).mkdir()
    if kind == "virtualenv":
        (tree / path / "pyvenv.cfg").write_text("home = /usr/bin\n")
    with pytest.raises(BuildError) as caught:
        included_path(tree, path)
    assert str(caught.value) == (
        f"The included path {path!r} is a folder that no archive holds ({kind}), even "
        "included on purpose (a virtualenv's packages come from the requirements, which pip "
        "installs for the archive). Leave it out of --include and ZIPAPP_INCLUDE, or include "
        "the files the site reads from it."
    )


def test_static_sources_are_collected_not_packed(tree: Path, tmp_path: Path) -> None:
    outside = tmp_path.parent / "frontend-dist"
    with override_settings(STATICFILES_DIRS=[("vendor", tree / "static"), outside]):
        from django.conf import settings

        assert data_dirs(tree, settings) == ()
        assert static_sources(tree) == [(tree / "static").resolve()]


def test_data_dirs_inside_what_is_copied_are_not_copied_again(tree: Path) -> None:
    # A package's own templates/ named in TEMPLATES DIRS ships with the package; a
    # fixtures folder inside a locale folder with it; fixtures in tests/ on their own.
    for name in ("pages/templates", "locale/fixtures", "templates", "pages/tests/fixtures"):
        (tree / name).mkdir(parents=True)
    backend = "django.template.backends.django.DjangoTemplates"
    templates = [{"BACKEND": backend, "DIRS": [tree / "pages" / "templates", tree / "templates"]}]
    fixtures = [tree / "locale" / "fixtures", tree / "pages" / "tests" / "fixtures"]
    with override_settings(
        TEMPLATES=templates, LOCALE_PATHS=[tree / "locale"], FIXTURE_DIRS=fixtures
    ):
        from django.conf import settings

        assert data_dirs(tree, settings, ["pages", "facts"]) == (
            PurePosixPath("locale"),
            PurePosixPath("pages/tests/fixtures"),
            PurePosixPath("templates"),
        )


def test_build_command_words() -> None:
    assert parse_command("compilemessages --ignore 'node modules'") == [
        "compilemessages",
        "--ignore",
        "node modules",
    ]
    assert parse_command(["compress", "--force"]) == ["compress", "--force"]
    with pytest.raises(BuildError):
        parse_command("  ")


def test_a_failing_build_command_ends_the_build(tmp_path: Path) -> None:
    with pytest.raises(BuildError) as caught:
        run_build_commands(["no_such_command --quick"], tmp_path, cwd=tmp_path)
    assert str(caught.value) == (
        "The build command 'no_such_command --quick' failed (CommandError: Unknown command: "
        "'no_such_command'). Fix it or remove it from ZIPAPP_BUILD_COMMANDS / --build-command, "
        "and build again."
    )


def test_list_settings_default_empty() -> None:
    assert (conf.INCLUDE, conf.BUILD_COMMANDS, conf.SETTINGS_MODULE) == ([], [], None)


@pytest.mark.skipif(shutil.which("msgfmt") is None, reason="needs GNU gettext's msgfmt")
def test_a_failing_command_shows_what_it_printed(tmp_path: Path) -> None:
    po = tmp_path / "locale" / "de" / "LC_MESSAGES" / "django.po"
    po.parent.mkdir(parents=True)
    po.write_text('msgid "Welcome"\nmsgstr "Willkommen\n')  # an unterminated string
    with override_settings(LOCALE_PATHS=[tmp_path / "locale"]), pytest.raises(BuildError) as caught:
        run_build_commands(["compilemessages"], tmp_path / "static", cwd=tmp_path)
    message = str(caught.value)
    assert message.startswith(
        "The build command 'compilemessages' failed (CommandError: compilemessages generated "
        "one or more errors.). Fix it or remove it from ZIPAPP_BUILD_COMMANDS / "
        "--build-command, and build again. It wrote:\nprocessing file django.po in "
    )
    assert "end-of-line within string" in message  # msgfmt's own words
    assert Path.cwd() != tmp_path  # back where the build started


def test_a_build_under_managepys_development_settings_names_wsgis_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django_zipapp.builder.settings_defaults import settings_module_note

    (tmp_path / "manage.py").write_text(
        "import os\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'shopcfg.settings.base')\n"
    )
    (tmp_path / "shopcfg").mkdir()
    (tmp_path / "shopcfg" / "__init__.py").write_text("")
    (tmp_path / "shopcfg" / "wsgi.py").write_text(
        "import os\n"
        "os.environ.setdefault(\n"
        '    "DJANGO_SETTINGS_MODULE", "shopcfg.settings.production"\n'
        ")\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert settings_module_note(tmp_path, "shopcfg.settings.base", "shopcfg.wsgi.application") == (
        "Note: the archive runs with the settings module 'shopcfg.settings.base', manage.py's "
        "default; shopcfg/wsgi.py, whose application a server runs, defaults to "
        "'shopcfg.settings.production'. If that is the production one, build with `python "
        "manage.py buildpyz --settings-module shopcfg.settings.production` (or set "
        "ZIPAPP_SETTINGS_MODULE)"
    )
    # Built with the production settings on purpose, or with one module for both: nothing.
    for module in ("shopcfg.settings.production", "shopcfg.settings.staging"):
        assert settings_module_note(tmp_path, module, "shopcfg.wsgi.application") is None
    (tmp_path / "shopcfg" / "wsgi.py").write_text(
        "import os\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'shopcfg.settings.base')\n"
    )
    assert (
        settings_module_note(tmp_path, "shopcfg.settings.base", "shopcfg.wsgi.application") is None
    )


def test_a_build_under_managepys_development_class_names_wsgis_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django_zipapp.builder.settings_defaults import configuration_note

    (tmp_path / "manage.py").write_text(
        "import os\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'classy.settings')\n"
        "os.environ.setdefault('DJANGO_CONFIGURATION', 'Dev')\n"
    )
    (tmp_path / "classy").mkdir()
    (tmp_path / "classy" / "__init__.py").write_text("")
    (tmp_path / "classy" / "wsgi.py").write_text(
        "import os\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'classy.settings')\n"
        'os.environ.setdefault("DJANGO_CONFIGURATION", "Production")\n'
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert configuration_note(tmp_path, "Dev", "classy.wsgi.application") == (
        "Note: the archive runs with the settings class 'Dev', manage.py's default "
        "DJANGO_CONFIGURATION; classy/wsgi.py, whose application a server runs, defaults to "
        "'Production'. If that is the production one, build with "
        "`DJANGO_CONFIGURATION=Production python manage.py buildpyz`"
    )
    # Built with DJANGO_CONFIGURATION=Production (or Staging) on purpose: nothing.
    for configuration in ("Production", "Staging"):
        assert configuration_note(tmp_path, configuration, "classy.wsgi.application") is None


def test_the_project_is_named_as_its_pyproject_declares(tmp_path: Path) -> None:
    from django.conf import settings

    from django_zipapp.builder.project import find_project

    with override_settings(BASE_DIR=tmp_path, SETTINGS_MODULE="tests.settings"):
        assert find_project(settings).name == "tests"  # the settings' package
        (tmp_path / "pyproject.toml").write_text('[project]\nname = "shop"\nversion = "1.2"\n')
        assert find_project(settings).name == "shop"


def test_checks_that_fail_under_managepys_development_settings_name_wsgis_default(
    tmp_path: Path,
) -> None:
    from tests.archives import build_in

    project = tmp_path / "project"
    (project / "shopcfg" / "settings").mkdir(parents=True)
    (project / "manage.py").write_text(
        "import os, sys\n"
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'shopcfg.settings.base')\n"
        "from django.core.management import execute_from_command_line\n"
        "execute_from_command_line(sys.argv)\n"
    )
    (project / "shopcfg" / "__init__.py").write_text("")
    (project / "shopcfg" / "settings" / "__init__.py").write_text("")
    (project / "shopcfg" / "wsgi.py").write_text(
        "import os\n"
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'shopcfg.settings.production')\n"
    )
    (project / "shopcfg" / "urls.py").write_text("urlpatterns = []\n")
    # Development settings as a project template writes them: uploads inside the project.
    (project / "shopcfg" / "settings" / "base.py").write_text(
        "from pathlib import Path\n"
        "BASE_DIR = Path(__file__).resolve().parent.parent.parent\n"
        "SECRET_KEY = 'development'\nDEBUG = True\n"
        "INSTALLED_APPS = ['django.contrib.staticfiles', 'django_zipapp']\n"
        "ROOT_URLCONF = 'shopcfg.urls'\nWSGI_APPLICATION = 'shopcfg.wsgi.application'\n"
        "STATIC_URL = 'static/'\nMEDIA_ROOT = BASE_DIR / 'media'\n"
    )
    result = build_in(project)
    assert result.returncode == 1, result.stdout + result.stderr
    error = result.stderr.splitlines()[-1]
    assert error.startswith("CommandError: The system checks found 1 error(s)"), error
    assert error.endswith(
        "Note: the archive runs with the settings module 'shopcfg.settings.base', manage.py's "
        "default; shopcfg/wsgi.py, whose application a server runs, defaults to "
        "'shopcfg.settings.production'. If that is the production one, build with `python "
        "manage.py buildpyz --settings-module shopcfg.settings.production` (or set "
        "ZIPAPP_SETTINGS_MODULE)."
    ), error
