"""A database the archive's commands cannot connect to: one paragraph and exit status 69.

The rule is checked on real connections (SQLite opening a file in a missing folder); the
archive's commands run the session's archive with a DATABASE_URL naming such a file.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db.utils import ConnectionHandler

from django_zipapp.builder.verify_commands import VerificationFailed, finish
from django_zipapp.runtime.database_errors import EXIT_UNAVAILABLE, database_unreachable
from tests.archives import Built, free_port, run_archive, site_env

SQLITE = "django.db.backends.sqlite3"


@pytest.fixture(autouse=True)
def real_connections(django_db_blocker: Any) -> Iterator[None]:
    # Connections of their own, outside the test database pytest-django guards.
    with django_db_blocker.unblock():
        yield


def raised(name: Path | str, sql: str = "") -> BaseException:
    """What a real SQLite connection raises: on connecting, or on running sql."""
    connection = ConnectionHandler({"default": {"ENGINE": SQLITE, "NAME": str(name)}})["default"]
    try:
        if sql:
            connection.cursor().execute(sql)
        else:
            connection.ensure_connection()
    except Exception as exc:
        return exc
    finally:
        connection.close()
    raise AssertionError("nothing was raised")


def test_a_missing_folder_is_one_paragraph(tmp_path: Path) -> None:
    name = tmp_path / "missing" / "db.sqlite3"
    assert database_unreachable(raised(name), ["migrate"]) == (
        f"Could not connect to the database 'default' ({SQLITE}): it tried to open the file "
        f"{str(name)!r}, whose folder {str(name.parent)!r} does not exist. The driver said: "
        "unable to open database file. The folder must exist and be writable by the user the "
        "command and the service run as (SQLite writes its journal beside the file). Under "
        "systemd, StateDirectory= in the service's unit makes that folder (`systemd-unit` "
        "writes one): point DATABASES['default']['NAME'] there, with %S in the unit or "
        "$STATE_DIRECTORY in the environment the settings read."
    )


def test_a_folder_in_place_of_the_file_is_named(tmp_path: Path) -> None:
    message = database_unreachable(raised(tmp_path), ["migrate"])
    assert message is not None
    assert f"the file {str(tmp_path)!r}, which is a folder, not a file." in message


def test_an_error_of_the_sql_itself_keeps_its_traceback(tmp_path: Path) -> None:
    error = raised(tmp_path / "db.sqlite3", "select * from no_such_table")
    assert "no such table" in str(error)
    assert database_unreachable(error, ["shell"]) is None


def test_traceback_asks_for_the_traceback(tmp_path: Path) -> None:
    error = raised(tmp_path / "missing" / "db.sqlite3")
    assert database_unreachable(error, ["migrate", "--traceback"]) is None


def test_other_exceptions_are_not_about_the_database() -> None:
    assert database_unreachable(ValueError("unable to open database file"), ["check"]) is None


def test_the_verification_says_which_command_could_not_connect() -> None:
    said = "error: Could not connect to the database 'default' (...): it tried ..."
    code = f"import sys; print({said!r}, file=sys.stderr); sys.exit({EXIT_UNAVAILABLE})"
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    with pytest.raises(VerificationFailed) as caught:
        finish(process, "migrate --noinput")
    assert str(caught.value).startswith(
        "The new archive failed its verification, started as production would: `migrate "
        "--noinput` could not connect to its database, so it was not written"
    )
    assert str(caught.value).endswith(f"It said:\n{said}")


@pytest.mark.e2e
@pytest.mark.parametrize(
    "command",
    [
        ("migrate", "--noinput"),
        ("createsuperuser", "--noinput", "--username", "admin", "--email", "a@example.com"),
        ("shell", "-c", "from notes.models import Note; print(Note.objects.count())"),
    ],
    ids=["migrate", "createsuperuser", "shell"],
)
def test_the_archive_says_its_database_cannot_be_reached(
    built: Built, tmp_path: Path, command: tuple[str, ...]
) -> None:
    name = tmp_path / "missing" / "db.sqlite3"
    environment = site_env(built, DATABASE_URL=f"sqlite:///{name}")
    result = run_archive(built, *command, env=environment)
    assert result.returncode == EXIT_UNAVAILABLE, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(
        f"error: Could not connect to the database 'default' ({SQLITE}): it tried to open the "
        f"file {str(name)!r}, whose folder {str(name.parent)!r} does not exist. The driver "
        "said: unable to open database file. The folder must exist"
    )
    assert result.stderr.count("\n") == 1  # one paragraph, on one line


@pytest.mark.e2e
def test_an_error_in_a_commands_own_sql_keeps_its_traceback(built: Built, tmp_path: Path) -> None:
    sql = "select * from no_such_table"
    code = f"from django.db import connection; connection.cursor().execute({sql!r})"
    environment = site_env(built, STATE_DIRECTORY=str(tmp_path))
    result = run_archive(built, "shell", "-c", code, env=environment)
    assert result.returncode == 1
    assert "Traceback" in result.stderr
    assert result.stderr.rstrip().endswith(
        "django.db.utils.OperationalError: no such table: no_such_table"
    )


@pytest.mark.e2e
def test_serve_says_so_when_the_site_connects_while_it_loads(built: Built, tmp_path: Path) -> None:
    # The session's site with a WSGI module that connects on import, as some sites' do:
    # gunicorn's master loads it before any worker starts.
    (tmp_path / "connecting_settings.py").write_text(
        'from example.settings import *\nWSGI_APPLICATION = "connecting_wsgi.application"\n'
    )
    (tmp_path / "connecting_wsgi.py").write_text(
        "from django.core.wsgi import get_wsgi_application\n"
        "from django.db import connection\n"
        "application = get_wsgi_application()\n"
        "connection.ensure_connection()\n"
    )
    name = tmp_path / "missing" / "db.sqlite3"
    environment = site_env(
        built,
        DATABASE_URL=f"sqlite:///{name}",
        PYTHONPATH=str(tmp_path),
        DJANGO_SETTINGS_MODULE="connecting_settings",
    )
    result = run_archive(built, "serve", "--bind", f"127.0.0.1:{free_port()}", env=environment)
    assert result.returncode == EXIT_UNAVAILABLE, result.stderr
    assert "Traceback" not in result.stderr
    assert (
        f"error: Could not connect to the database 'default' ({SQLITE}): it tried to open the "
        f"file {str(name)!r}, whose folder {str(name.parent)!r} does not exist." in result.stderr
    )
