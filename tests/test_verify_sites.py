"""The verification of a site configured only through environment variables.

One project (tests/projects/envsite): its settings read os.environ, with DEBUG on unless
told otherwise, DATABASE_URL through dj-database-url and REDIS_URL for the cache; every
page needs a login, so `/` redirects to the login page. It is built twice: as it is, and
with `--verify-env DEBUG=False`, nothing else changed. The verified archive is then
verified again, by the builder's own verify_archive, under the environments that break
it (a login page that fails, a stylesheet missing from the manifest) and against a real
PostgreSQL and Redis.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from django_zipapp.builder import BuildError
from django_zipapp.builder.verify import verify_archive
from tests.archives import (
    Built,
    Server,
    build_in,
    free_port,
    get,
    run_archive,
    site_env,
    wait_for,
)

pytestmark = [pytest.mark.e2e, pytest.mark.heavy]

PROJECT = Path(__file__).resolve().parent / "projects" / "envsite"
HEADLINE = "CommandError: The new archive failed its verification, started as production would: "
FILES = {"/static/": "static", "/media/": "media"}
TABLES = (
    "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables "
    "WHERE schemaname = 'public'"
)
VARIABLES = [
    "SECRET_KEY",
    "DEBUG",
    "ALLOWED_HOSTS",
    "DATABASE_URL",
    "REDIS_URL",
    "MEDIA_ROOT",
    "SITE_STYLESHEET",
    "LOGIN_PROVIDER",
    "EMAIL_HOST",
    "CONN_MAX_AGE",
    "ADMIN_URL",
]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("envsite")
    shutil.copytree(PROJECT, work / "project", ignore=shutil.ignore_patterns("__pycache__"))
    return work / "project"


@pytest.fixture(scope="module")
def refused(project: Path) -> subprocess.CompletedProcess[str]:
    return build_in(project, "-o", str(project.parent / "refused.pyz"), verify=True)


@pytest.fixture(scope="module")
def verified(project: Path) -> Built:
    output = project.parent / "site.pyz"
    result = build_in(project, "-o", str(output), "--verify-env", "DEBUG=False", verify=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return Built(output, result.stdout, project.parent)


def verify(built: Built, **environment: str) -> list[str]:
    """Verify the archive again under this environment; the lines it reported."""
    reported: list[str] = []
    verify_archive(
        built.archive,
        urls=["/", "/admin/login/"],
        host="localhost",
        https_header=None,
        environment={"DEBUG": "False", **environment},
        report=reported.append,
        cache_root=built.work / "verify-cache",
        file_prefixes=FILES,
        read_variables=VARIABLES,
    )
    return reported


def test_debug_on_by_default_is_refused_naming_the_variable_and_the_option(
    refused: subprocess.CompletedProcess[str], project: Path
) -> None:
    assert refused.returncode == 1, refused.stdout
    error = next(line for line in refused.stderr.splitlines() if line.startswith(HEADLINE))
    assert error.startswith(
        HEADLINE + "`serve` refused to start: DEBUG is on in the settings serve would run "
        "with, so it was not written to the output path. The settings read the environment "
        "variable DEBUG, which the verification does not give (it starts the archive without "
        "the build's environment): give it as the server does, with `python manage.py "
        "buildpyz --verify-env DEBUG=False` (repeatable), or in ZIPAPP_VERIFY_ENV, the "
        "setting (a dict) or the environment variable (NAME=VALUE pairs). "
    ), error
    assert "configuration invalid" not in refused.stderr
    assert "Traceback" not in refused.stderr
    assert not (project.parent / "refused.pyz").exists()


def test_the_same_site_with_verify_env_debug_false_proves_its_pages(verified: Built) -> None:
    lines = verified.build_output.splitlines()
    # `/` redirects to the login page, which must answer too; the admin's login page as well.
    visited = next(line for line in lines if line.startswith("- Verified "))
    assert re.fullmatch(
        r"- Verified 3 pages \(/, /accounts/login/\?next=/, /admin/login/\) and \d+ files "
        r"they link",
        visited,
    ), visited
    assert not [line for line in lines if "DATABASE_URL" in line]


def test_the_took_block_accounts_for_the_whole_build(verified: Built) -> None:
    lines = verified.build_output.splitlines()
    took = next(i for i, line in enumerate(lines) if line.startswith("Took "))
    total = float(lines[took].split()[1])
    rows = [line.split(" s  ", 1) for line in lines[took + 1 : -1]]
    assert rows[0][1] == "Starting Django, system checks, reading the project"
    # Each row is rounded to a tenth of a second: their sum is the total, to that precision.
    assert abs(sum(float(seconds) for seconds, _ in rows) - total) <= 0.05 * (len(rows) + 1)


def test_info_lists_the_variables_the_settings_read(verified: Built) -> None:
    info = run_archive(verified, "info")
    assert f"environment    {', '.join(VARIABLES)}" in info.stdout.splitlines()
    recorded = json.loads(run_archive(verified, "info", "--json").stdout)
    assert recorded["environment"] == VARIABLES


def test_a_variable_the_settings_need_is_named_without_a_traceback(verified: Built) -> None:
    env = site_env(verified, DEBUG="False", EMAIL_HOST="smtp.example.com")
    line = _line_of('os.environ["EMAIL_HOST_PASSWORD"]')
    for command in (["check"], ["serve", "--bind", f"127.0.0.1:{free_port()}"]):
        result = run_archive(verified, *command, env=env)
        assert result.returncode == 78, result.stdout + result.stderr
        assert "Traceback" not in result.stderr
        # Only the missing one: the build's verification names those its output names.
        assert "CONN_MAX_AGE" not in result.stderr
        assert result.stderr == (
            "error: The settings module 'envsite.settings' could not be loaded: it reads the "
            "environment variable EMAIL_HOST_PASSWORD, which is not set (envsite/settings.py, "
            f"line {line}). Set the variable in the "
            "environment this command runs in (for the service: `site.pyz systemd-unit "
            "--env-file PATH` or `--setenv NAME=VALUE`). `site.pyz info` lists every "
            "variable they read.\n"
        ), result.stderr


def test_a_value_the_settings_refuse_is_said_in_their_words(verified: Built) -> None:
    result = run_archive(verified, "migrate", env=site_env(verified, CONN_MAX_AGE="forever"))
    assert result.returncode == 78, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(
        "error: The settings module 'envsite.settings' could not be loaded: CONN_MAX_AGE must "
        "be a whole number of seconds (envsite/settings.py, line "
    ), result.stderr


def _line_of(text: str) -> int:
    lines = (PROJECT / "envsite" / "settings.py").read_text().splitlines()
    return next(number for number, line in enumerate(lines, 1) if text in line)


def test_pages_refused_for_their_host_are_not_counted_as_verified(verified: Built) -> None:
    # The build's settings allowed the host, the server's come from ALLOWED_HOSTS,
    # which the verification is not given: every page answers 400.
    reported: list[str] = []
    verify_archive(
        verified.archive,
        urls=["/", "/admin/login/"],
        host="shop.example.com",
        https_header=None,
        environment={"DEBUG": "False"},
        report=reported.append,
        cache_root=verified.work / "verify-cache",
        file_prefixes=FILES,
        read_variables=VARIABLES,
    )
    assert reported[-2:] == [
        "Note: /, /admin/login/ answered 400 Bad Request to the Host 'shop.example.com', as "
        "Django answers a Host that ALLOWED_HOSTS does not list, so they were not verified. "
        "The settings read ALLOWED_HOSTS, which the verification does not give (it starts "
        "the archive without the build's environment): give it as the server does, with "
        "`python manage.py buildpyz --verify-env ALLOWED_HOSTS=shop.example.com`.",
        "Verified 0 pages and 0 files they link",
    ], reported


def test_a_database_path_under_the_state_root_is_the_verifications_own(verified: Built) -> None:
    # As a unit gives it (Environment=DATABASE_URL=sqlite:///%S/envsite/db.sqlite3): the
    # verification migrates it in a folder of its own, and serves the pages from it.
    url = "sqlite:///%S/envsite/db.sqlite3"
    reported = verify(verified, DATABASE_URL=url)
    assert not [line for line in reported if "did not migrate" in line], reported
    assert reported[-1].startswith("Verified 3 pages"), reported
    assert not Path("/%S").exists()


def test_serve_takes_its_values_from_the_environment_without_goodconf(verified: Built) -> None:
    port = free_port()
    env = site_env(verified, DEBUG="False", SERVE_BIND=f"127.0.0.1:{port}", SERVE_WORKERS="1")
    log = verified.work / "serve-environment.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [str(verified.archive), "serve"], env=env, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        server = Server(f"http://127.0.0.1:{port}", process, log)
        wait_for(server)
        status, _, _ = get(f"{server.base}/accounts/login/")
        assert status == 200
    finally:
        process.terminate()
        process.wait(timeout=30)
    said = log.read_text()
    # gunicorn's own lines and its access log, though the settings' LOGGING switches off
    # every logger that exists when the site is loaded (disable_existing_loggers).
    assert f"Listening at: http://127.0.0.1:{port}" in said, said
    assert said.count("Booting worker") == 1, said
    assert '"GET /accounts/login/ HTTP/1.1" 200' in said, said
    bad = run_archive(verified, "serve", env={**env, "SERVE_WORKERS": "many"})
    assert bad.returncode == 78, bad.stderr
    assert bad.stderr.startswith("error: The environment is invalid for serve: SERVE_WORKERS: ")
    assert "many" not in bad.stderr and "Traceback" not in bad.stderr


def test_the_admin_login_requested_is_where_the_archive_serves_it(verified: Built) -> None:
    # The settings read the admin's path from the environment: the verification's, not
    # the build machine's, and not printed when the server keeps it elsewhere.
    reported: list[str] = []
    verify_archive(
        verified.archive,
        urls=["/"],
        host="localhost",
        https_header=None,
        environment={"DEBUG": "False", "ADMIN_URL": "staff-only/"},
        report=reported.append,
        cache_root=verified.work / "verify-cache",
        file_prefixes=FILES,
        read_variables=VARIABLES,
    )
    assert re.fullmatch(
        r"Verified 3 pages \(/, /accounts/login/\?next=/, /staff-only/login/\) and \d+ "
        r"files they link",
        reported[-1],
    ), reported


def test_a_login_page_that_fails_fails_the_verification(verified: Built) -> None:
    with pytest.raises(BuildError) as failed:
        verify(verified, LOGIN_PROVIDER="acme")
    message = str(failed.value)
    assert message.startswith(
        HEADLINE.removeprefix("CommandError: ") + "GET /accounts/login/?next=/ (where / "
        "redirects) answered 500, so it was not written to the output path."
    ), message
    assert "RuntimeError: no client for the login provider 'acme'" in message


def test_a_stylesheet_missing_from_the_manifest_is_named(verified: Built) -> None:
    with pytest.raises(BuildError) as failed:
        verify(verified, SITE_STYLESHEET="site/missing.css")
    assert str(failed.value).startswith(
        HEADLINE.removeprefix("CommandError: ") + "GET /accounts/login/?next=/ (where / "
        "redirects) answered 500: the static file 'site/missing.css' has no entry in the "
        "static files manifest, so collectstatic did not produce it"
    ), failed.value


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A private redis-server on a free port of 127.0.0.1, stopped afterwards."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(timeout=30)


def redis(url: str, *command: str) -> bytes:
    """One command in Redis's inline protocol, its raw answer."""
    parts = urllib.parse.urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), 5) as connection:
        connection.sendall(" ".join(command).encode() + b"\r\n")
        return connection.recv(1024)


@pytest.fixture
def postgres() -> str:
    url = os.environ.get("DJANGO_ZIPAPP_TEST_POSTGRES")
    if not url:
        pytest.skip("DJANGO_ZIPAPP_TEST_POSTGRES is not set to a postgres:// URL (.ci/run sets it)")
    if shutil.which("psql") is None:
        pytest.skip("psql is not installed")
    return url


def psql(url: str, statement: str) -> str:
    result = subprocess.run(
        ["psql", url, "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", statement],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.mark.postgres
def test_verified_against_postgresql_and_redis_the_named_database_untouched(
    verified: Built, postgres: str, redis_url: str
) -> None:
    name = urllib.parse.urlsplit(postgres).path.lstrip("/")
    psql(postgres, "DROP TABLE IF EXISTS verification_marker")
    psql(postgres, "CREATE TABLE verification_marker (kept integer)")
    tables = psql(postgres, TABLES)
    reported = verify(verified, DATABASE_URL=postgres, REDIS_URL=redis_url)
    assert [line for line in reported if line.startswith("Note:")] == []
    # Migrated and served from a database of its own, dropped since: the one the URL
    # names has the tables it had, none of Django's.
    assert psql(postgres, TABLES) == tables
    assert "django_migrations" not in tables.split(",")
    throwaway = f"SELECT count(*) FROM pg_database WHERE datname LIKE 'test\\_{name}\\_%'"
    assert psql(postgres, throwaway) == "0"
    # The login page counted its visit in Redis.
    assert redis(redis_url, "EXISTS", ":1:login-visits") == b":1\r\n"
    psql(postgres, "DROP TABLE verification_marker")
