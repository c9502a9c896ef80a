"""Option plumbing of the buildpyz command: options > ZIPAPP_* settings > defaults.

build_pyz itself is replaced here (plumbing only); test_e2e.py builds real archives.
"""

from __future__ import annotations

import re
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core import checks
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings
from django.utils import cache

from django_zipapp import builder
from django_zipapp.builder import BuildError, BuildResult
from django_zipapp.management.commands.buildpyz import Command


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    recorded: list[dict[str, Any]] = []

    def fake_build_pyz(**kwargs: Any) -> BuildResult:
        recorded.append(kwargs)
        kwargs["report"]("Installing dependencies")
        return BuildResult(Path("/srv/site.pyz"), 14_260_249, "ab" * 32, "id")

    monkeypatch.setattr(builder, "build_pyz", fake_build_pyz)
    return recorded


def run(*args: str) -> str:
    out = StringIO()
    call_command("buildpyz", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_defaults(calls: list[dict[str, Any]]) -> None:
    output = run()
    (kwargs,) = calls
    assert kwargs["output"] == Path("site.pyz")
    assert kwargs["requirements"] is None
    assert kwargs["shebang"] is None
    assert kwargs["compressed"] is True
    assert kwargs["config_object"] is None
    assert kwargs["verify"] is True
    assert kwargs["verify_urls"] == ["/"]
    lines = output.splitlines()
    assert lines[0] == "- Installing dependencies"
    # Each step's duration at the end, then the archive.
    assert re.fullmatch(r"Took \d+\.\d s:", lines[1])
    # Django's start and the system checks before the first step count too.
    assert re.fullmatch(
        r"  +\d+\.\d s  Starting Django, system checks, reading the project", lines[2]
    )
    assert re.fullmatch(r"  +\d+\.\d s  Installing dependencies", lines[3])
    assert lines[4:] == [f"Built /srv/site.pyz (14.3 MB, sha256 {'ab' * 32})"]


def test_pip_progress_at_the_default_verbosity(calls: list[dict[str, Any]]) -> None:
    out = StringIO()
    command = Command(stdout=out)
    command.verbosity = 1
    for line in (
        "Collecting Django==5.2",
        "  Using cached Django.whl (8 MB)",
        "Successfully installed Django-5.2",
    ):
        command._pip_line(line)
    assert out.getvalue() == "    Collecting Django==5.2\n    Successfully installed Django-5.2\n"


@override_settings(ZIPAPP_VERIFY_ENV={"DEBUG": "True", "API_TOKEN": "from-settings"})
def test_verify_env_options_over_the_variable_over_the_setting(
    calls: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZIPAPP_VERIFY_ENV", "DEBUG=0 'REDIS_URL=redis://127.0.0.1:6390/0'")
    run("--verify-env", "DEBUG=False", "--verify-env", "EMPTY=")
    assert calls[0]["verify_env"] == {
        "DEBUG": "False",
        "API_TOKEN": "from-settings",
        "REDIS_URL": "redis://127.0.0.1:6390/0",
        "EMPTY": "",
    }
    monkeypatch.setenv("ZIPAPP_VERIFY_ENV", '{"DEBUG": "off"}')
    run()
    assert calls[1]["verify_env"] == {"DEBUG": "off", "API_TOKEN": "from-settings"}


@pytest.mark.parametrize("given", ["hunter2", "=value", "1X=2"])
def test_a_verify_env_without_a_name_is_refused_without_quoting_it(
    calls: list[dict[str, Any]], given: str
) -> None:
    with pytest.raises(CommandError) as error:
        run("--verify-env", given)
    assert str(error.value) == (
        "--verify-env takes NAME=VALUE pairs, such as DEBUG=False, and a value given there "
        "has no '=' after an environment variable's name."
    )
    assert calls == []


def test_a_verify_env_variable_that_is_not_pairs_is_refused(
    calls: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZIPAPP_VERIFY_ENV", '{"DEBUG": ')
    with pytest.raises(CommandError, match="is not a JSON object of names and values"):
        run()
    assert calls == []


def test_no_verify_option(calls: list[dict[str, Any]]) -> None:
    run("--no-verify")
    assert calls[0]["verify"] is False
    with override_settings(ZIPAPP_VERIFY=False, ZIPAPP_VERIFY_URLS=["/", "/health/"]):
        run()
    assert (calls[1]["verify"], calls[1]["verify_urls"]) == (False, ["/", "/health/"])


@override_settings(
    ZIPAPP_OUTPUT="dist/app.pyz",
    ZIPAPP_REQUIREMENTS="requirements/prod.txt",
    ZIPAPP_PYTHON="/usr/bin/python3.12",
    ZIPAPP_COMPRESS=False,
    ZIPAPP_CONFIG_OBJECT="example.conf:config",
)
def test_settings_beat_defaults(calls: list[dict[str, Any]], tmp_path: Path) -> None:
    with override_settings(ZIPAPP_REQUIREMENTS=str(_file(tmp_path / "prod.txt"))):
        run()
    (kwargs,) = calls
    assert kwargs["output"] == Path("dist/app.pyz")
    assert kwargs["requirements"] == str(tmp_path / "prod.txt")
    assert kwargs["shebang"] == "/usr/bin/python3.12"
    assert kwargs["compressed"] is False
    assert kwargs["config_object"] == "example.conf:config"


@override_settings(
    ZIPAPP_OUTPUT="dist/app.pyz",
    ZIPAPP_PYTHON="/usr/bin/python3.12",
    ZIPAPP_COMPRESS=False,
    ZIPAPP_CONFIG_OBJECT="example.conf:config",
)
def test_options_beat_settings(calls: list[dict[str, Any]]) -> None:
    run(
        "-o", "out.pyz", "--requirements", "req.txt", "--python", "/opt/py/bin/python3",
        "--compress", "--config-object", "site.settings_conf:conf",
    )  # fmt: skip
    (kwargs,) = calls
    assert kwargs["output"] == Path("out.pyz")
    assert kwargs["requirements"] == "req.txt"
    assert kwargs["shebang"] == "/opt/py/bin/python3"
    assert kwargs["compressed"] is True
    assert kwargs["config_object"] == "site.settings_conf:conf"


def test_no_compress_option(calls: list[dict[str, Any]]) -> None:
    run("--no-compress")
    assert calls[0]["compressed"] is False


def test_verbosity_two_streams_pip(calls: list[dict[str, Any]]) -> None:
    run("--verbosity", "2")
    assert calls[0]["pip_echo"] is not None


def test_verbosity_zero_prints_only_the_result(calls: list[dict[str, Any]]) -> None:
    assert run("--verbosity", "0") == f"Built /srv/site.pyz (14.3 MB, sha256 {'ab' * 32})\n"


def test_build_error_is_a_command_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(**kwargs: Any) -> BuildResult:
        raise BuildError("No dependencies were found for the project in '/srv'.")

    monkeypatch.setattr(builder, "build_pyz", failing)
    with pytest.raises(CommandError) as caught:
        run()
    assert str(caught.value) == "No dependencies were found for the project in '/srv'."


@override_settings(ZIPAPP_COMPRESS="yes")
def test_refuses_on_check_errors(calls: list[dict[str, Any]]) -> None:
    with pytest.raises(CommandError) as caught:
        run()
    assert str(caught.value) == (
        "The system checks found 1 error(s), so no archive was built. django_zipapp.E002: "
        "ZIPAPP_COMPRESS must be True or False, not 'yes'. Set ZIPAPP_COMPRESS = True (the "
        "default) or False."
    )
    assert calls == []


def test_an_error_the_projects_code_raises_under_the_checks_is_one_paragraph(
    calls: list[dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A URLconf that imports a name a dependency no longer has (an older djangorestframework
    # under a newer Django): the URL checks import it.
    (tmp_path / "broken_urls.py").write_text(
        "urlpatterns = []\nfrom django.utils.cache import no_such_name\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    with override_settings(ROOT_URLCONF="broken_urls"), pytest.raises(CommandError) as caught:
        run()
    assert str(caught.value) == (
        "The system checks could not run, so no archive was built: importing the project's "
        "code raised ImportError: cannot import name 'no_such_name' from 'django.utils.cache' "
        f"({Path(cache.__file__)}) (broken_urls.py, line 2). Fix it and build again "
        "(`python manage.py check` shows the whole traceback)."
    )
    assert calls == []


class ReaderThatLeaves(StringIO):
    """A pipe whose reader stops after the first line, as `buildpyz | head -1` does."""

    def write(self, text: str) -> int:
        if self.getvalue():
            raise BrokenPipeError(32, "Broken pipe")
        return super().write(text)


def test_a_reader_that_goes_away_does_not_stop_the_build(
    calls: list[dict[str, Any]],
) -> None:
    out = ReaderThatLeaves()
    call_command("buildpyz", stdout=out, stderr=StringIO())
    # The build ran to its end, which prints several more lines.
    assert len(calls) == 1
    assert out.getvalue() == "- Installing dependencies\n"


def test_warnings_are_shown_and_do_not_stop_the_build(calls: list[dict[str, Any]]) -> None:
    storages = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    err = StringIO()
    with override_settings(STORAGES=storages):
        call_command("buildpyz", stdout=StringIO(), stderr=err)
    assert err.getvalue().startswith(
        "Warning: django_zipapp.W001: The static files storage "
        "'django.contrib.staticfiles.storage.StaticFilesStorage' does not hash file names"
    )
    assert len(calls) == 1


def test_the_checks_reach_no_database(calls: list[dict[str, Any]]) -> None:
    # The build machine need not reach the site's database: Django 6.1 gives every check
    # all databases when none is named, and a model's JSONField then opens one.
    given: list[object] = []

    def record(app_configs: object, databases: object = None, **kwargs: object) -> list[Any]:
        given.append(databases)
        return []

    checks.register(record)
    try:
        call_command("buildpyz", stdout=StringIO(), stderr=StringIO())
    finally:
        checks.registry.registry.registered_checks.discard(record)
    assert given and not any(given)
    assert len(calls) == 1


def _file(path: Path) -> Path:
    path.write_text("Django\n")
    return path


def test_layout_options_beat_settings(calls: list[dict[str, Any]]) -> None:
    with override_settings(ZIPAPP_INCLUDE=["data"], ZIPAPP_BUILD_COMMANDS=["compress"]):
        run()
        run("--include", "content", "--include", "NEWS.md", "--build-command", "compilemessages")
    assert [(c["includes"], c["build_commands"]) for c in calls] == [
        (["data"], ["compress"]),
        (["content", "NEWS.md"], ["compilemessages"]),
    ]


def test_the_settings_it_runs_with_need_no_second_run(calls: list[dict[str, Any]]) -> None:
    run("--settings-module", "tests.settings")
    assert len(calls) == 1


@override_settings(ZIPAPP_SETTINGS_MODULE="mysite.settings.production")
def test_other_settings_from_call_command_say_how_to_build(calls: list[dict[str, Any]]) -> None:
    with pytest.raises(CommandError) as caught:
        run()
    assert str(caught.value) == (
        "buildpyz builds under the settings the archive runs with, "
        "'mysite.settings.production', but runs under 'tests.settings'. Run it as "
        "`python manage.py buildpyz --settings mysite.settings.production`."
    )
    assert calls == []


@pytest.mark.parametrize("module", ["mysite.settings.production", "tests.no_such_settings"])
def test_missing_settings_module_is_named(calls: list[dict[str, Any]], module: str) -> None:
    command = Command(stdout=StringIO(), stderr=StringIO())
    with pytest.raises(CommandError) as caught:
        # --traceback: Django raises the CommandError instead of printing it and exiting.
        command.run_from_argv(["manage.py", "buildpyz", "--settings-module", module, "--traceback"])
    assert str(caught.value) == (
        f"The settings module {module!r} (--settings-module or ZIPAPP_SETTINGS_MODULE) cannot "
        "be found. Give the dotted path of the settings module the archive runs with, such as "
        "'mysite.settings.production'."
    )
    assert calls == []


def test_bundle_python_is_off_by_default(calls: list[dict[str, Any]]) -> None:
    run()
    assert calls[0]["bundle_python"] is None


@pytest.mark.parametrize(
    ("args", "setting", "expected"),
    [
        (["--bundle-python"], False, ""),
        (["--bundle-python", "/srv/cpython.tar.gz"], True, "/srv/cpython.tar.gz"),
        ([], True, ""),
        ([], "/srv/cpython.tar.gz", "/srv/cpython.tar.gz"),
    ],
)
def test_bundle_python_option_and_setting(
    calls: list[dict[str, Any]], args: list[str], setting: object, expected: str
) -> None:
    with override_settings(ZIPAPP_BUNDLE_PYTHON=setting):
        run(*args)
    assert calls[0]["bundle_python"] == expected


def test_a_missing_interpreter_tarball_is_named_before_building(tmp_path: Path) -> None:
    with pytest.raises(CommandError) as caught:
        run("--bundle-python", str(tmp_path / "cpython.tar.gz"), "-o", str(tmp_path / "site"))
    assert str(caught.value) == (
        f"The interpreter tarball {str(tmp_path / 'cpython.tar.gz')!r} (--bundle-python or "
        "ZIPAPP_BUNDLE_PYTHON) does not exist. Give the path of a python-build-standalone "
        "install_only tarball."
    )


@override_settings(
    ZIPAPP_WORKERS={"tasks": "db_wroker --queue-name default"},
    ZIPAPP_JOBS={"sessions": {"command": "clearsessions", "schedule": "daily"}},
)
def test_refuses_a_worker_whose_command_the_archive_lacks(calls: list[dict[str, Any]]) -> None:
    with pytest.raises(CommandError) as caught:
        run()
    assert str(caught.value) == (
        "ZIPAPP_WORKERS['tasks'] runs 'db_wroker', which is not a command of the archive (a "
        "Django management command of the project's INSTALLED_APPS, or one of the archive's "
        "own such as 'run'), so its unit would fail on every start. Correct the command's "
        "name, or add the app that provides it to INSTALLED_APPS. See the guide 'Background "
        "workers and scheduled jobs'."
    )
    assert calls == []


@override_settings(
    ZIPAPP_WORKERS={"celery": "run celery -A proj worker"},
    ZIPAPP_JOBS={"sessions": {"command": ["check", "--deploy"], "schedule": "Mon..Fri 03:00"}},
)
def test_builds_with_commands_the_archive_has(calls: list[dict[str, Any]]) -> None:
    run()
    assert [kwargs["jobs"]["sessions"]["schedule"] for kwargs in calls] == ["Mon..Fri 03:00"]
