"""Projects not shaped like startproject, each built once, deployed and served.

tests/projects/layered: a settings package (base/dev/production, manage.py on dev) with
ZIPAPP_SETTINGS_MODULE, root templates/ and static/, top-level apps, a lazily imported
package, files read through BASE_DIR, fixtures, compilemessages as a build command (in a
git checkout whose .gitignore lists *.mo), and `-r` requirements with a dependency from a
local path.
tests/projects/compressed: django-compressor's offline `compress` as a build command
(built once for the session, see conftest.py).
"""

from __future__ import annotations

import json
import re
import shutil
import zipfile
from pathlib import Path

import pytest

from .archives import (
    PROJECTS,
    SECRET_KEY,
    Built,
    build_in,
    build_project,
    get,
    run_archive,
    running_server,
    site_env,
)

pytestmark = pytest.mark.e2e

# Production settings read SECRET_KEY from the host; the build runs without one.
BUILD_ENV = {"SECRET_KEY": ""}


@pytest.fixture(scope="module")
def layered(tmp_path_factory: pytest.TempPathFactory) -> Built:
    built = build_project(tmp_path_factory.mktemp("layered"), "layered", checkout=True)
    migrate = run_archive(built, "migrate", "--noinput", cwd=Path("/"))
    assert migrate.returncode == 0, migrate.stderr
    return built


# compressed: the session's build of tests/projects/compressed (conftest.py).


def test_settings_package_builds_under_production(layered: Built) -> None:
    lines = layered.build_output.splitlines()
    assert lines[0] == "- Building under the settings module 'layered.settings.production'"
    assert lines[1].endswith("(settings layered.settings.production)")
    assert "- Installing dependencies from production.txt with pip" in lines
    assert "- Running 1 build command(s): compilemessages" in lines
    # layered/templates, named in TEMPLATES DIRS, is copied (and counted) once, with its
    # package; templates, fixtures and locale beside the packages are data directories.
    copied = [line for line in lines if line.startswith("- Copied ")]
    assert copied == ["- Copied 19 project files (layered, pages, facts; 3 data directories)"]
    with zipfile.ZipFile(layered.archive) as archive:
        names = set(archive.namelist())
        info = json.loads(archive.read("django_zipapp.json"))
    assert info["settings_module"] == "layered.settings.production"
    assert {
        "site-packages/facts/reader.py",  # imported lazily by a view
        "site-packages/pages/views.py",
        "site-packages/templates/pages/home.html",
        "site-packages/layered/templates/layered/footer.html",
        "site-packages/data/facts.json",  # ZIPAPP_INCLUDE
        "site-packages/CHANGELOG.txt",  # next to manage.py
        "site-packages/fixtures/people.json",
        "site-packages/layered/settings/production.py",
        # Written by compilemessages, and shipped though git ignores *.mo.
        "site-packages/locale/de/LC_MESSAGES/django.mo",
        "site-packages/greeting/__init__.py",  # -e ../libs/greeting, from base.txt
    } <= names
    assert [n for n in names if n.startswith("site-packages/libs/")] == []
    # STATICFILES_DIRS: collected (served below), not packed a second time as sources.
    assert [n for n in names if n.startswith("site-packages/static/")] == []
    assert "site-packages/gunicorn/__init__.py" in names  # from -r base.txt's sibling


def test_production_settings_missing_a_variable_stop_the_build_in_one_paragraph(
    tmp_path: Path,
) -> None:
    # As django-environ's env("DJANGO_ADMIN_URL") or os.environ[...] in production settings
    # stop at import: the build under them says so, not Django's traceback.
    project = tmp_path / "project"
    shutil.copytree(PROJECTS / "layered", project, ignore=shutil.ignore_patterns("__pycache__"))
    production = project / "layered" / "settings" / "production.py"
    production.write_text(production.read_text() + 'ADMIN_URL = os.environ["ADMIN_URL"]\n')
    line = len(production.read_text().splitlines())
    result = build_in(project, env=BUILD_ENV)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout == "- Building under the settings module 'layered.settings.production'\n"
    assert result.stderr == (
        "CommandError: The settings module 'layered.settings.production' could not be loaded: "
        "it reads the environment variable ADMIN_URL, which is not set "
        f"(layered/settings/production.py, line {line}). buildpyz imports the settings the "
        "archive runs with on the build machine: set each variable they require there, with "
        "any value that lets them load (`ADMIN_URL=build python manage.py buildpyz`). None of "
        "these values is packed, and the verification does not see them: give it what a "
        "server has with --verify-env.\n"
    ), result.stderr


def test_settings_package_serves_its_pages(layered: Built, tmp_path: Path) -> None:
    environment = site_env(layered)
    with running_server(layered.archive, environment, tmp_path / "serve.log", workers=1) as server:
        status, _, body = get(server.base + "/")
        assert status == 200
        assert b"<h1>Layered home</h1>" in body
        css = re.search(rb'href="(/static/css/site\.[0-9a-f]{12}\.css)"', body)
        assert css is not None, body
        assert get(server.base + css[1].decode())[0] == 200
        assert get(server.base + "/changelog/")[2] == b"1.0: first release of the layered site\n"
        assert get(server.base + "/facts/")[2] == b"Honey never spoils."
        greeting = get(server.base + "/greeting/")[2]
        assert greeting == b"Hello from a local dependency. Willkommen!"


def test_a_cache_directory_reached_through_a_link_translates_the_projects_strings(
    layered: Built, tmp_path: Path
) -> None:
    # systemd's DynamicUser=yes: CACHE_DIRECTORY is /var/cache/NAME, a link to
    # private/NAME; BASE_DIR, from Path(__file__).resolve(), names the folder behind it,
    # and so do the LOCALE_PATHS built from it.
    (tmp_path / "private").mkdir()
    (tmp_path / "cache").symlink_to(tmp_path / "private")
    environment = site_env(layered, SHIV_ROOT=str(tmp_path / "cache"))
    greet = "from django.utils import translation; translation.activate('de'); "
    greet += "print(translation.gettext('Welcome'))"
    said = run_archive(layered, "shell", "-v", "0", "-c", greet, cwd=Path("/"), env=environment)
    assert (said.stdout, said.stderr) == ("Willkommen\n", "")


def test_fixtures_load_from_the_archive(layered: Built) -> None:
    loaded = run_archive(layered, "loaddata", "people", cwd=Path("/"))
    assert (loaded.returncode, loaded.stderr) == (0, "")
    assert loaded.stdout == "Installed 1 object(s) from 1 fixture(s)\n"


def test_offline_compression_is_packed_and_served(compressed: Built, tmp_path: Path) -> None:
    assert "- Running 1 build command(s): compress" in compressed.build_output.splitlines()
    with zipfile.ZipFile(compressed.archive) as archive:
        cached = [n for n in archive.namelist() if "/staticfiles/CACHE/css/" in n]
    assert any(name.endswith((".css.gz", ".css.br")) for name in cached), cached
    environment = site_env(compressed)
    with running_server(compressed.archive, environment, tmp_path / "log", workers=1) as server:
        status, _, body = get(server.base + "/")
        assert status == 200
        assert b"<h1>Compressed home</h1>" in body
        link = re.search(rb'href="(/static/CACHE/css/[^"]+\.css)"', body)
        assert link is not None, body
        status, headers, css = get(server.base + link[1].decode())
        assert status == 200
        assert b"#abcdef" in css
        assert b"margin:0" in css.replace(b" ", b"")
        # No manifest lists it, but its name is its content's hash: cached for good.
        assert headers["Cache-Control"] == "max-age=315360000, public, immutable"


def test_a_database_inside_the_extraction_is_refused(layered: Built) -> None:
    (extraction,) = (layered.work / "cache").glob("site.pyz_*")
    inside = extraction / "site-packages"
    result = run_archive(layered, "migrate", env=site_env(layered, STATE_DIRECTORY=str(inside)))
    assert result.returncode == 78
    assert result.stderr == (
        f"error: DATABASES['default']['NAME'] is {str(inside / 'db.sqlite3')!r}, inside "
        f"{str(layered.work / 'cache')!r}, the folder this archive unpacks itself into, which "
        "a new deploy or a prune of old builds removes: the data would be lost. Set "
        "DATABASES['default']['NAME'] in the settings to a path the server keeps (systemd's "
        "STATE_DIRECTORY, for example), outside the archive's extraction folder.\n"
    )
    assert not (inside / "db.sqlite3").exists()


def test_data_survives_a_rebuild_a_new_deploy_and_a_prune(layered: Built) -> None:
    create = "from django.contrib.auth.models import Group; Group.objects.create(name='kept')"
    assert run_archive(layered, "shell", "-c", create, cwd=Path("/")).returncode == 0
    old = sorted((layered.work / "cache").glob("site.pyz_*"))
    # Rebuild from changed sources, and deploy over the archive in service.
    home = layered.work / "project" / "templates" / "pages" / "home.html"
    home.write_text(home.read_text().replace("Layered home", "Layered home, rebuilt"))
    rebuilt = layered.work / "build" / "site.pyz"
    assert build_in(layered.work / "project", "-o", str(rebuilt), env=BUILD_ENV).returncode == 0
    shutil.copy2(rebuilt, layered.archive)
    # The new build's first start prunes the old builds' extractions: keep only itself.
    query = "from django.contrib.auth.models import Group; print(Group.objects.get(name='kept'))"
    environment = site_env(layered, KEEP_BUILDS="1")
    result = run_archive(layered, "shell", "-v", "0", "-c", query, cwd=Path("/"), env=environment)
    assert (result.returncode, result.stdout) == (0, "kept\n"), result.stderr
    new = sorted((layered.work / "cache").glob("site.pyz_*"))
    assert len(new) == 1 and new[0] not in old
    assert (layered.work / "state" / "db.sqlite3").is_file()


@pytest.mark.heavy
def test_src_layout_is_packed_where_base_dir_finds_it(tmp_path: Path) -> None:
    # tests/projects/srclayout: packages in src/, which manage.py puts on sys.path;
    # BASE_DIR is the repository root, with templates/ in it; python-decouple.
    built = build_project(tmp_path / "work", "srclayout", env={"SITE_NAME": "src"})
    copied = "- Copied 9 project files (src/notes, src/srcsite, src/reports; 1 data directories)"
    assert copied in built.build_output.splitlines()
    with zipfile.ZipFile(built.archive) as archive:
        names = set(archive.namelist())
        info = json.loads(archive.read("django_zipapp.json"))
    assert info["python_path"] == ["src"]
    assert {
        "site-packages/src/srcsite/settings.py",
        "site-packages/src/reports/__init__.py",  # imported lazily by the view
        "site-packages/templates/home.html",  # BASE_DIR / "templates"
    } <= names
    check = run_archive(built, "check", cwd=Path("/"), env=site_env(built, SITE_NAME="src"))
    assert check.returncode == 0, check.stderr
    # python-decouple's error for a variable it cannot find: one line, no traceback.
    missing = run_archive(built, "check", cwd=Path("/"))
    assert missing.returncode == 78
    assert missing.stderr.startswith(
        "error: The settings module 'srcsite.settings' could not be loaded: it reads the "
        "environment variable SITE_NAME, which is not set (src/srcsite/settings.py, line 12)."
    ), missing.stderr
    environment = site_env(built, SITE_NAME="src")
    with running_server(built.archive, environment, tmp_path / "serve.log", workers=1) as server:
        assert get(server.base + "/")[2].endswith(b"<p>Served from a src layout.</p>\n")


@pytest.mark.heavy
def test_django_configurations_classes_run_as_the_build_ran_them(tmp_path: Path) -> None:
    # tests/projects/classsettings: manage.py and wsgi.py install django-configurations'
    # importer, which the archive must install itself before it imports the settings.
    build_env = {
        "DJANGO_CONFIGURATION": "Production",
        "DJANGO_SECRET_KEY": "build",
        # django-configurations' own warnings: its importer still uses load_module(), and
        # its Configuration copies every default setting, deprecated ones too.
        "PYTHONWARNINGS": "error,ignore::ImportWarning,ignore::DeprecationWarning,"
        "ignore::PendingDeprecationWarning",
    }
    built = build_project(tmp_path / "work", "classsettings", env=build_env, verify=True)
    assert "- Verified 2 pages (/, /admin/login/) and 7 files they link" in built.build_output
    with zipfile.ZipFile(built.archive) as archive:
        info = json.loads(archive.read("django_zipapp.json"))
    assert info["configuration"] == "Production"
    assert "DJANGO_SECRET_KEY" in info["environment"]
    described = run_archive(built, "info", cwd=Path("/")).stdout.splitlines()
    assert "settings       classsettings.settings (class Production, django-configurations)" in (
        described
    )
    # Production's values.SecretValue() without its variable: one line, no traceback.
    missing = run_archive(built, "check", "--deploy", cwd=Path("/"))
    assert missing.returncode == 78, missing.stderr
    assert missing.stderr.startswith(
        "error: The settings module 'classsettings.settings' could not be loaded: Couldn't "
        "setup configuration 'classsettings.settings.Production': Value 'SECRET_KEY' is "
        "required to be set as the environment variable 'DJANGO_SECRET_KEY'. Set the "
        "variable in the environment this command runs in"
    ), missing.stderr
    environment = site_env(built, DJANGO_SECRET_KEY=SECRET_KEY)
    migrate = run_archive(built, "migrate", "--noinput", cwd=Path("/"), env=environment)
    assert migrate.returncode == 0, migrate.stderr
    # The environment wins over the recorded class, as DJANGO_SETTINGS_MODULE does.
    show = "from django.conf import settings; print(settings.CONFIGURATION)"
    dev = run_archive(
        built,
        "shell",
        "-v",
        "0",
        "-c",
        show,
        cwd=Path("/"),
        env={**environment, "DJANGO_CONFIGURATION": "Dev"},
    )
    assert (dev.returncode, dev.stdout) == (0, "classsettings.settings.Dev\n"), dev.stderr
    # django-configurations' own option, which its importer adds to every command.
    option = run_archive(
        built,
        "shell",
        "-v",
        "0",
        "--configuration",
        "Dev",
        "-c",
        show,
        cwd=Path("/"),
        env=environment,
    )
    assert (option.returncode, option.stdout) == (0, "classsettings.settings.Dev\n"), option.stderr
    with running_server(built.archive, environment, tmp_path / "serve.log", workers=1) as server:
        status, _, body = get(server.base + "/")
    assert (status, body) == (200, b"Configuration classsettings.settings.Production\n")
