"""``./site.pyz run``: the archive's console scripts and modules, with the site's config."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from tests.archives import Built, Server, free_port, run_archive, site_env, wait_for

pytestmark = pytest.mark.e2e

SHOW_HOSTS = "from django.conf import settings; print(settings.ALLOWED_HOSTS)"


def test_help_lists_the_console_scripts(built: Built) -> None:
    result = run_archive(built, "run", "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(
        "usage: site.pyz [-C FILE] run NAME [ARGS...]\n"
        "       site.pyz [-C FILE] run -m MODULE [ARGS...]\n"
    )
    listed = result.stdout.split("console scripts in this archive:\n")[1]
    assert {"django-admin", "gunicorn"} <= set(listed.replace(",", " ").split())


def test_without_a_name_the_help_goes_to_stderr(built: Built) -> None:
    result = run_archive(built, "run")
    assert (result.returncode, result.stdout) == (2, "")
    assert "console scripts in this archive:" in result.stderr


def test_an_unknown_name_gets_one_line_naming_what_exists(built: Built) -> None:
    result = run_archive(built, "run", "celery", "-A", "proj", "worker")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.startswith("error: this archive has no console script 'celery'; it has ")
    assert result.stderr.endswith(" (or give a module: run -m MODULE).\n")
    assert "django-admin, " in result.stderr
    assert result.stderr.count("\n") == 1


def test_an_unknown_module_gets_one_line(built: Built) -> None:
    result = run_archive(built, "run", "-m", "celery.bin.celery")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == "error: this archive has no module 'celery.bin.celery' to run.\n"


@pytest.mark.parametrize("form", [["django-admin"], ["-m", "django"]])
def test_a_script_sees_the_sites_configuration(
    built: Built, tmp_path: Path, form: list[str]
) -> None:
    config = tmp_path / "site.toml"
    config.write_text('ALLOWED_HOSTS = ["notes.example.org"]\n')
    result = run_archive(built, "-C", str(config), "run", *form, "shell", "-c", SHOW_HOSTS)
    assert result.returncode == 0, result.stderr
    # Django 5.2's shell may first say what it imported on its own.
    assert result.stdout.endswith("['notes.example.org']\n")


def test_a_missing_setting_stops_it_before_the_script_starts(built: Built) -> None:
    environment = site_env(built)
    del environment["SECRET_KEY"]
    result = run_archive(built, "run", "django-admin", "check", env=environment)
    assert (result.returncode, result.stdout) == (78, "")
    assert "SECRET_KEY: required" in result.stderr


def test_the_scripts_exit_status_is_the_archives(built: Built) -> None:
    result = run_archive(built, "run", "django-admin", "no-such-command")
    assert result.returncode == 1
    assert "Unknown command: 'no-such-command'" in result.stderr


def test_sigterm_reaches_the_script(migrated: Built, tmp_path: Path) -> None:
    """gunicorn's own console script: its master handles SIGTERM and stops gracefully."""
    port = free_port()
    log = tmp_path / "gunicorn.log"
    command = [str(migrated.archive), "run", "gunicorn", "example.wsgi", "--workers", "1",
               "--bind", f"127.0.0.1:{port}"]  # fmt: skip
    with log.open("wb") as output:
        process = subprocess.Popen(command, cwd="/", env=site_env(migrated), stdout=output,
                                   stderr=subprocess.STDOUT)  # fmt: skip
    try:
        wait_for(Server(f"http://127.0.0.1:{port}", process, log))
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert "Handling signal: term" in log.read_text()
    assert "Shutting down: Master" in log.read_text()
