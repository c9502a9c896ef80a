from __future__ import annotations

import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from django_zipapp.checks import check_archive_settings, check_generators, check_settings


def static_backend(backend: str) -> override_settings:
    return override_settings(
        STORAGES={
            "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
            "staticfiles": {"BACKEND": backend},
        }
    )


def ids() -> list[str | None]:
    return [message.id for message in check_settings()]


def test_defaults_pass() -> None:
    assert ids() == []


@pytest.mark.parametrize("name", ["ZIPAPP_OUTPUT", "ZIPAPP_PYTHON", "ZIPAPP_CONFIG_OBJECT"])
def test_string_settings(name: str) -> None:
    with override_settings(**{name: 42}):
        messages = check_settings()
    assert [m.id for m in messages] == ["django_zipapp.E001"]
    assert messages[0].msg == f"{name} must be a string, not int."


def test_compress_must_be_bool() -> None:
    with override_settings(ZIPAPP_COMPRESS="no"):
        messages = check_settings()
    assert [m.id for m in messages] == ["django_zipapp.E002"]
    assert messages[0].msg == "ZIPAPP_COMPRESS must be True or False, not 'no'."


@pytest.mark.parametrize("value", ["example.conf", "example.conf:", "1bad:config", "a:b:c"])
def test_config_object_shape(value: str) -> None:
    with override_settings(ZIPAPP_CONFIG_OBJECT=value):
        assert ids() == ["django_zipapp.E003"]


def test_config_object_valid() -> None:
    with override_settings(ZIPAPP_CONFIG_OBJECT="example.conf:config"):
        assert ids() == []


def test_requirements_must_exist(tmp_path) -> None:  # type: ignore[no-untyped-def]
    missing = tmp_path / "nope.txt"
    with override_settings(ZIPAPP_REQUIREMENTS=str(missing)):
        messages = check_settings()
    assert [m.id for m in messages] == ["django_zipapp.E004"]
    assert messages[0].msg == f"ZIPAPP_REQUIREMENTS names {str(missing)!r}, which is not a file."
    (tmp_path / "nope.txt").write_text("Django\n")
    with override_settings(ZIPAPP_REQUIREMENTS=str(missing)):
        assert ids() == []


def test_unhashed_storage_warns() -> None:
    with static_backend("django.contrib.staticfiles.storage.StaticFilesStorage"):
        messages = check_settings()
    assert [m.id for m in messages] == ["django_zipapp.W001"]
    assert "CompressedManifestStaticFilesStorage" in (messages[0].hint or "")


def test_registered_with_django() -> None:
    with override_settings(ZIPAPP_COMPRESS="no"), pytest.raises(SystemCheckError) as caught:
        call_command("check", stdout=StringIO(), stderr=StringIO())
    assert "django_zipapp.E002" in str(caught.value)


def test_a_custom_manifest_storage_needs_no_warning() -> None:
    with static_backend("tests.storage.VersionedStorage"):
        assert ids() == []


def test_an_unimportable_storage_is_left_to_buildpyz() -> None:
    with static_backend("whitenoise.storage.NoSuchStorage"):
        assert ids() == []


def test_a_running_archive_skips_them(monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    from django_zipapp.boot.names import BOOT_MODULE

    monkeypatch.setitem(sys.modules, BOOT_MODULE, types.ModuleType(BOOT_MODULE))
    with override_settings(ZIPAPP_REQUIREMENTS="/build/machine/requirements.txt"):
        assert ids() == []


def archive_ids() -> list[str | None]:
    return [message.id for message in check_archive_settings()]


def sqlite_at(name: object) -> override_settings:
    return override_settings(
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": name}}
    )


@override_settings(SECRET_KEY="from-the-environment-" * 3)
def test_archive_settings_pass_by_default() -> None:
    assert archive_ids() == []


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
@override_settings(SECRET_KEY="from-the-environment-" * 3)
def test_startproject_database_inside_the_project(tmp_path: Path) -> None:
    with override_settings(BASE_DIR=tmp_path), sqlite_at(tmp_path / "db.sqlite3"):
        (message,) = check_archive_settings()
    assert message.id == "django_zipapp.E005"
    assert message.msg.startswith(
        f"DATABASES['default']['NAME'] is {str(tmp_path / 'db.sqlite3')!r}, inside the "
        "project directory that is packed into the archive"
    )
    assert (message.hint or "").startswith("Set DATABASES['default']['NAME'] to a path outside")


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
@pytest.mark.parametrize("name", [":memory:", "file:memdb?mode=memory&cache=shared", "db.sqlite3"])
@override_settings(SECRET_KEY="from-the-environment-" * 3)
def test_databases_that_are_not_files_of_the_project(tmp_path: Path, name: str) -> None:
    with override_settings(BASE_DIR=tmp_path), sqlite_at(name):
        assert archive_ids() == []
    with override_settings(BASE_DIR=tmp_path / "project"), sqlite_at(tmp_path / "db.sqlite3"):
        assert archive_ids() == []


@override_settings(SECRET_KEY="from-the-environment-" * 3)
def test_media_root_inside_the_project(tmp_path: Path) -> None:
    with override_settings(BASE_DIR=tmp_path, MEDIA_ROOT=str(tmp_path / "media")):
        (message,) = check_archive_settings()
    assert message.id == "django_zipapp.E006"
    assert message.msg.startswith(f"MEDIA_ROOT is {str(tmp_path / 'media')!r}, inside")
    assert (message.hint or "").startswith("Set MEDIA_ROOT to a directory outside the project")


@override_settings(SECRET_KEY="from-the-environment-" * 3)
def test_other_writable_paths_inside_the_project(tmp_path: Path) -> None:
    file_handler = {"class": "logging.FileHandler", "filename": tmp_path / "logs" / "site.log"}
    # delay: the handler opens nothing (Django configures LOGGING when it changes).
    logging = {"version": 1, "handlers": {"file": {**file_handler, "delay": True}}}
    caches = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": tmp_path / "cache",
        }
    }
    with override_settings(
        BASE_DIR=tmp_path,
        LOGGING=logging,
        CACHES=caches,
        SESSION_FILE_PATH=str(tmp_path / "sessions"),
        FILE_UPLOAD_TEMP_DIR="/tmp",
    ):
        messages = check_archive_settings()
    assert [m.id for m in messages] == ["django_zipapp.E007"] * 3
    assert [m.msg.split(" is ")[0] for m in messages] == [
        "SESSION_FILE_PATH",
        "CACHES['default']['LOCATION']",
        "LOGGING['handlers']['file']['filename']",
    ]


@override_settings(SECRET_KEY="from-the-environment-" * 3)
def test_relative_template_and_static_dirs() -> None:
    templates = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "DIRS": ["tpl"]}]
    with override_settings(TEMPLATES=templates, STATICFILES_DIRS=[("vendor", "assets")]):
        messages = check_archive_settings()
    assert [m.id for m in messages] == ["django_zipapp.E008"] * 2
    assert messages[0].msg == (
        "TEMPLATES['DIRS'] contains the relative path 'tpl', which is read from the "
        "directory the site is started in, not from the archive."
    )
    assert messages[1].hint == "Build the path from BASE_DIR, for example BASE_DIR / 'assets'."


@override_settings(SECRET_KEY="from-the-environment-" * 3)
def test_staticfiles_must_be_installed() -> None:
    with override_settings(STATIC_URL=None):
        assert archive_ids() == ["django_zipapp.E009"]


def test_literal_secret_key_in_the_settings() -> None:
    # tests/settings.py holds SECRET_KEY = "tests-only" and lives in the project directory.
    with override_settings(SECRET_KEY="tests-only", BASE_DIR=Path(__file__).parent.parent):
        (message,) = check_archive_settings()
    assert message.id == "django_zipapp.W002"
    assert message.msg.startswith("SECRET_KEY is written literally in 'tests/settings.py'")
    with override_settings(SECRET_KEY="from-the-environment-" * 3):
        assert archive_ids() == []


@override_settings(SECRET_KEY="from-the-environment-" * 3)
def test_debug_on() -> None:
    with override_settings(DEBUG=True):
        (message,) = check_archive_settings()
    assert message.id == "django_zipapp.W003"
    assert message.msg.startswith("DEBUG is on in the settings the archive runs with")


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
@override_settings(SECRET_KEY="from-the-environment-" * 3)
def test_archive_checks_run_with_check_deploy_only(tmp_path: Path) -> None:
    with override_settings(BASE_DIR=tmp_path), sqlite_at(tmp_path / "db.sqlite3"):
        call_command("check", stdout=StringIO(), stderr=StringIO())
        with pytest.raises(SystemCheckError) as caught:
            call_command("check", "--deploy", stdout=StringIO(), stderr=StringIO())
    assert "django_zipapp.E005" in str(caught.value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ZIPAPP_INCLUDE", "data"),
        ("ZIPAPP_INCLUDE", ["data", 3]),
        ("ZIPAPP_BUILD_COMMANDS", [[]]),
        ("ZIPAPP_BUILD_COMMANDS", [""]),
    ],
)
def test_list_settings(name: str, value: object) -> None:
    with override_settings(**{name: value}):
        messages = check_settings()
    assert [m.id for m in messages] == ["django_zipapp.E010"]
    assert messages[0].msg == f"{name} must be a list of strings, not {value!r}."


def test_list_settings_valid() -> None:
    with override_settings(
        ZIPAPP_INCLUDE=["data", Path("NEWS.md")],
        ZIPAPP_BUILD_COMMANDS=["compress", ["compilemessages", "--ignore", "venv"]],
    ):
        assert ids() == []


@pytest.mark.parametrize(
    ("workers", "jobs", "reason"),
    [
        ([], {}, "ZIPAPP_WORKERS must be a dict of names, not []."),
        ({"a b": "run celery"}, {}, "ZIPAPP_WORKERS names 'a b', which cannot be part of a "
         "unit name: use letters, digits, '-' and '_'."),
        ({}, {"nightly": "clearsessions"}, "ZIPAPP_JOBS['nightly'] has no 'schedule': give a "
         "systemd calendar event such as 'daily' or '*-*-* 03:00:00' (OnCalendar=)."),
        ({"w": {"command": "db_worker", "restart": "always"}}, {}, "ZIPAPP_WORKERS['w'] has "
         "'restart', which is not one of command, description, stop_timeout."),
        ({"w": {"command": ""}}, {}, "ZIPAPP_WORKERS['w'] needs a 'command': what follows "
         "./site.pyz, as a string or a list of strings, such as 'run celery -A proj worker' "
         "or ['clearsessions']."),
        ({"w": {"command": "db_worker", "stop_timeout": "1h"}}, {}, "ZIPAPP_WORKERS['w']"
         "['stop_timeout'] must be a whole number of seconds, not '1h'."),
        ({"x": "db_worker"}, {"x": {"command": "clearsessions", "schedule": "daily"}},
         "'x' names both a worker and a job; their units would share a name."),
    ],
)  # fmt: skip
def test_workers_and_jobs(workers: object, jobs: object, reason: str) -> None:
    with override_settings(ZIPAPP_WORKERS=workers, ZIPAPP_JOBS=jobs):
        messages = check_settings()
    assert [m.id for m in messages] == ["django_zipapp.E011"]
    assert messages[0].msg == f"ZIPAPP_WORKERS or ZIPAPP_JOBS cannot be used: {reason}"


def test_workers_and_jobs_valid() -> None:
    with override_settings(
        ZIPAPP_WORKERS={"celery": "run celery -A proj worker", "tasks": ["db_worker"]},
        ZIPAPP_JOBS={"clearsessions": {"command": "clearsessions", "schedule": "daily"}},
    ):
        assert ids() == []


@override_settings(SECRET_KEY="from-the-environment-" * 3)
def test_every_file_system_storage_inside_the_project(tmp_path: Path) -> None:
    storages = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "scripts": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path / "user_scripts"},
        },
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    with override_settings(BASE_DIR=tmp_path, MEDIA_ROOT="/srv/media", STORAGES=storages):
        (message,) = check_archive_settings()
    setting = "STORAGES['scripts']['OPTIONS']['location']"
    assert message.id == "django_zipapp.E006"
    assert message.msg.startswith(f"{setting} is {str(tmp_path / 'user_scripts')!r}, inside")
    assert (message.hint or "").startswith(f"Set {setting} to a directory outside the project")


@override_settings(SECRET_KEY="from-the-environment-" * 3)
def test_debug_of_the_build_environment_is_not_the_archives(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A development file or variable turned DEBUG on for the build; the archive loads its
    own configuration, where DEBUG is off unless the host turns it on."""
    from tests import sample_conf

    monkeypatch.setenv("DEBUG", "true")
    monkeypatch.setenv("SECRET_KEY", "from-the-environment-" * 3)
    sample_conf.config._load()
    assert sample_conf.config.DEBUG is True
    with override_settings(DEBUG=True, ZIPAPP_CONFIG_OBJECT="tests.sample_conf:config"):
        assert [m.id for m in check_archive_settings()] == []
    # Settings that turn DEBUG on themselves: the archive runs with it on.
    with override_settings(DEBUG=True, ZIPAPP_CONFIG_OBJECT="tests.sample_conf:nothing"):
        assert [m.id for m in check_archive_settings()] == ["django_zipapp.W003"]


@override_settings(SECRET_KEY="from-the-environment-" * 3)
def test_a_storage_that_computes_its_location_inside_the_project(tmp_path: Path) -> None:
    storages = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "scripts": {"BACKEND": "tests.storage.ComputedLocationStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    inside = tmp_path / "scripts"
    with override_settings(BASE_DIR=tmp_path, STORAGES=storages, SCRIPTS_ROOT=inside):
        (message,) = check_archive_settings()
        assert message.id == "django_zipapp.E006"
        assert message.msg.startswith(
            f"STORAGES['scripts'] keeps its files in {str(inside)!r}, as its backend "
            "'tests.storage.ComputedLocationStorage' computes it, inside the project directory"
        )
        with pytest.raises(SystemCheckError) as caught:
            call_command("check", "--deploy", stdout=StringIO(), stderr=StringIO())
        assert "(django_zipapp.E006) STORAGES['scripts'] keeps its files in" in str(caught.value)
    with override_settings(BASE_DIR=tmp_path, STORAGES=storages, SCRIPTS_ROOT="/srv/scripts"):
        assert archive_ids() == []


COMPRESSOR_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.staticfiles",
    "compressor",
    "django_zipapp",
]


# django-compressor reads STATIC_ROOT as it loads: set before the apps change.
@override_settings(COMPRESS_OFFLINE=True, STATIC_ROOT="/srv/site/static")
@override_settings(INSTALLED_APPS=COMPRESSOR_APPS)
def test_generated_files_are_a_deployment_check() -> None:
    """In development django-compressor compresses on the fly: runserver and plain check
    stay quiet, the build and check --deploy name the missing build command."""
    assert [message.id for message in check_generators()] == ["django_zipapp.E013"]
    call_command("check", stdout=StringIO(), stderr=StringIO())
    with pytest.raises(SystemCheckError) as caught:
        call_command("check", "--deploy", stdout=StringIO(), stderr=StringIO())
    assert "(django_zipapp.E013) COMPRESS_OFFLINE is on but 'compress'" in str(caught.value)
    with override_settings(ZIPAPP_BUILD_COMMANDS=["compress"]):
        assert check_generators() == []


def test_asgi_application_served_under_wsgi_warns() -> None:
    with override_settings(ASGI_APPLICATION="mysite.asgi.application"):
        (message,) = check_settings()
    assert message.id == "django_zipapp.W004"
    assert message.msg.startswith(
        "ASGI_APPLICATION is 'mysite.asgi.application', but ZIPAPP_ASGI is not set:"
    )
    assert (message.hint or "").startswith("Set ZIPAPP_ASGI = True")
    with override_settings(ASGI_APPLICATION="mysite.asgi.application", ZIPAPP_ASGI=True):
        assert ids() == []
