"""The example site on a real PostgreSQL server, with a C-extension driver in the archive.

Needs DJANGO_ZIPAPP_TEST_POSTGRES, a postgres:// URL of a role that may create databases
(`.ci/run` starts a server and sets it); skipped where it is unset or unreachable. Each run
creates a database of its own through the archive, and drops it afterwards.
"""

from __future__ import annotations

import http.cookiejar
import os
import re
import socket
import urllib.error
import urllib.parse
import urllib.request
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.archives import (
    Built,
    build_in,
    copy_example,
    free_port,
    run_archive,
    running_server,
    site_env,
)

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

DSN_VARIABLE = "DJANGO_ZIPAPP_TEST_POSTGRES"
PASSWORD = "a-long-enough-password-42"


@pytest.fixture(scope="module")
def dsn() -> str:
    url = os.environ.get(DSN_VARIABLE)
    if not url:
        pytest.skip(f"{DSN_VARIABLE} is not set to a postgres:// URL (.ci/run starts a server)")
    parts = urllib.parse.urlsplit(url)
    try:
        socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5432), 5).close()
    except OSError as exc:
        pytest.skip(f"no PostgreSQL server answers at {parts.hostname}:{parts.port}: {exc}")
    return url


@pytest.fixture(scope="module")
def built(dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Built:
    work = tmp_path_factory.mktemp("postgres")
    project = copy_example(work / "project")
    with (project / "requirements.txt").open("a") as requirements:
        requirements.write("psycopg[binary]>=3.1\n")
    result = build_in(project, "-o", str(work / "site.pyz"))
    assert result.returncode == 0, result.stdout + result.stderr
    return Built(work / "site.pyz", result.stdout, work)


class AdminClient:
    """Just enough of a browser for Django's admin: cookies, forms, CSRF, no redirects."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.cookies), _NoRedirect()
        )

    def get(self, path: str) -> tuple[int, str, str]:
        return self._open(urllib.request.Request(self.base + path))

    def submit(self, path: str, fields: dict[str, str]) -> tuple[int, str, str]:
        """Fetch the form at path, then post it back with its CSRF token, as a user would."""
        status, _, page = self.get(path)
        assert status == 200, page
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        assert match is not None, page
        data = urllib.parse.urlencode({"csrfmiddlewaretoken": match[1], **fields}).encode()
        return self._open(urllib.request.Request(self.base + path, data=data))

    def _open(self, request: urllib.request.Request) -> tuple[int, str, str]:
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, "", response.read().decode()
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, exc.headers.get("Location", ""), exc.read().decode()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


@pytest.fixture(scope="module")
def database(built: Built, dsn: str) -> Iterator[str]:
    """A new database, made with the archive's own driver: nothing else here has one."""
    name = f"django_zipapp_test_{uuid.uuid4().hex[:12]}"
    sql(built, dsn, f'CREATE DATABASE "{name}"')
    yield urllib.parse.urlsplit(dsn)._replace(path=f"/{name}").geturl()
    sql(built, dsn, f'DROP DATABASE "{name}" WITH (FORCE)')


def sql(built: Built, dsn: str, statement: str) -> None:
    code = f"from django.db import connection; connection.cursor().execute({statement!r})"
    environment = site_env(built, DATABASE_URL=dsn)
    result = run_archive(built, "shell", "--verbosity", "0", "-c", code, env=environment)
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def admin(built: Built, database: str) -> dict[str, str]:
    environment = site_env(built, DATABASE_URL=database)
    migrate = run_archive(built, "migrate", "--noinput", env=environment)
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr
    superuser = {
        "DJANGO_SUPERUSER_USERNAME": "admin",
        "DJANGO_SUPERUSER_EMAIL": "admin@example.com",
        "DJANGO_SUPERUSER_PASSWORD": PASSWORD,
    }
    created = run_archive(built, "createsuperuser", "--noinput", env={**environment, **superuser})
    assert (created.returncode, created.stdout) == (0, "Superuser created successfully.\n")
    return environment


def test_the_archive_carries_the_c_extension_driver(built: Built) -> None:
    with zipfile.ZipFile(built.archive) as archive:
        names = archive.namelist()
    native = [n for n in names if n.startswith("site-packages/psycopg_binary/") and ".so" in n]
    assert native != []


def test_the_site_uses_postgresql(built: Built, admin: dict[str, str]) -> None:
    code = "from django.db import connection; print(connection.vendor)"
    shell = run_archive(built, "shell", "--verbosity", "0", "-c", code, env=admin)
    assert (shell.returncode, shell.stdout) == (0, "postgresql\n"), shell.stderr
    assert not (built.work / "state" / "db.sqlite3").exists()


def test_a_note_made_in_the_admin_survives_a_restart(
    built: Built, admin: dict[str, str], tmp_path: Path
) -> None:
    title = "Stored in PostgreSQL"
    with running_server(built.archive, admin, tmp_path / "first.log") as server:
        client = AdminClient(server.base)
        login = client.submit(
            "/admin/login/?next=/admin/", {"username": "admin", "password": PASSWORD}
        )
        assert login[:2] == (302, "/admin/"), login[2]
        note = {"title": title, "body": "Written by the admin.", "_save": "1"}
        added = client.submit("/admin/notes/note/add/", note)
        assert added[:2] == (302, "/admin/notes/note/"), added[2]
        status, _, listing = client.get("/admin/notes/note/")
        assert status == 200
        assert title in listing
    assert "Traceback" not in (tmp_path / "first.log").read_text()

    with running_server(built.archive, admin, tmp_path / "second.log") as server:
        status, _, home = AdminClient(server.base).get("/")
        assert status == 200
        assert f"<h2>{title}</h2>" in home
        # The session lives in the database too: still logged in after the restart.
        client.base = server.base
        status, _, listing = client.get("/admin/notes/note/")
        assert status == 200
        assert title in listing


def test_a_server_that_refuses_the_connection_is_one_paragraph(built: Built, dsn: str) -> None:
    port = free_port()  # nothing listens there: the connection is refused
    closed = f"postgres://site:{PASSWORD}@127.0.0.1:{port}/site"
    result = run_archive(built, "migrate", "--noinput", env=site_env(built, DATABASE_URL=closed))
    assert result.returncode == 69, result.stderr
    assert (result.stderr.count("\n"), "Traceback" in result.stderr) == (1, False)
    assert PASSWORD not in result.stderr
    assert result.stderr.startswith(
        "error: Could not connect to the database 'default' (django.db.backends.postgresql): "
        f"it tried 127.0.0.1:{port}/site. The driver said: "
    )
    assert "Connection refused. Start the database server" in result.stderr


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"password": "not-the-password"}, "password authentication failed"),
        ({"path": "/no_such_database"}, 'database "no_such_database" does not exist'),
    ],
    ids=["password", "database"],
)
def test_a_server_that_turns_the_site_away_is_one_paragraph(
    built: Built, dsn: str, change: dict[str, str], said: str
) -> None:
    parts = urllib.parse.urlsplit(dsn)
    password = change.get("password", parts.password or "")
    netloc = f"{parts.username}:{password}@{parts.hostname}:{parts.port}"
    url = parts._replace(netloc=netloc, path=change.get("path", parts.path)).geturl()
    result = run_archive(built, "migrate", "--noinput", env=site_env(built, DATABASE_URL=url))
    assert result.returncode == 69, result.stderr
    assert (result.stderr.count("\n"), "Traceback" in result.stderr) == (1, False)
    assert password not in result.stderr
    assert said in result.stderr
