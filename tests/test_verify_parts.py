"""The verification's parts that need no archive: what it requests from a server, the
environment variables it names, the throwaway database it asks a server for.

The crawl talks HTTP to a real server on 127.0.0.1 (http.server, in a thread).
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.test import override_settings

from django_zipapp.builder.crawl import MAX_PAGES, Site, file_prefixes, visit
from django_zipapp.builder.environment import Observation, missing_variables, way_in
from django_zipapp.builder.throwaway import is_server_url, refusal, throwaway_url
from django_zipapp.runtime.admin_login import admin_login_path
from django_zipapp.runtime.info import describe

HOME = """<!doctype html><html><head>
<link rel="stylesheet" href="/static/site.css">
<link rel="icon" href="static/icon.svg">
<script src="https://cdn.example.com/library.js"></script>
</head><body>
<img src="/media/logo.png" srcset="/static/small.png 1x, /static/large.png 2x">
<a href="/static/not-a-page-resource.pdf">a link is not requested</a>
</body></html>"""
# path -> (status, headers, body)
PAGES: dict[str, tuple[int, dict[str, str], str]] = {
    "/": (302, {"Location": "http://localhost/accounts/login/?next=/"}, ""),
    "/accounts/login/?next=/": (200, {"Content-Type": "text/html; charset=utf-8"}, HOME),
    "/away/": (302, {"Location": "https://elsewhere.example.com/"}, ""),
    "/loop/": (302, {"Location": "/loop/"}, ""),
    "/to-nowhere/": (302, {"Location": "/nowhere/"}, ""),
    "/static/site.css": (200, {"Content-Type": "text/css"}, "body {}"),
    "/static/icon.svg": (200, {"Content-Type": "image/svg+xml"}, "<svg/>"),
    "/static/small.png": (200, {"Content-Type": "image/png"}, "png"),
    "/static/large.png": (200, {"Content-Type": "image/png"}, "png"),
    "/broken/": (200, {"Content-Type": "text/html"}, '<link href="/static/gone.css">'),
    "/fails/": (500, {"Content-Type": "text/html"}, "<h1>Server Error</h1>"),
}


class Handler(BaseHTTPRequestHandler):
    requested: list[tuple[str, str]] = []

    def do_GET(self) -> None:
        self.requested.append((self.path, self.headers["Host"]))
        if self.path == "/dies/":  # as a worker killed in the middle of a request
            self.close_connection = True
            return
        status, headers, body = PAGES.get(self.path, (404, {"Content-Type": "text/html"}, ""))
        if self.path.startswith("/chain/"):  # a redirect to the next page, for ever
            following = int(self.path.split("/")[2]) + 1
            status, headers, body = 302, {"Location": f"/chain/{following}/"}, ""
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body.encode())))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def site() -> Iterator[Site]:
    Handler.requested = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    # A short poll, so that shutdown() at the end does not wait half a second.
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        answering = Site("", "localhost", ("X-Forwarded-Proto", "https"))
        answering.base = f"http://127.0.0.1:{server.server_address[1]}"
        yield answering
    finally:
        server.shutdown()
        server.server_close()


PREFIXES = {"/static/": "static", "/media/": "media"}


def test_a_redirect_is_followed_and_the_files_the_page_links_requested(site: Site) -> None:
    visited = visit(site, ["/"], PREFIXES)
    assert visited.failure is None
    assert visited.pages == ["/", "/accounts/login/?next=/"]
    # A relative link resolves against the page; a plain link is not the page's own.
    assert visited.files == [
        "/static/site.css",
        "/media/logo.png",
        "/static/small.png",
        "/static/large.png",
    ]
    # The upload is not in the verification's empty MEDIA_ROOT: said, not failed.
    assert visited.notes == [
        "GET /media/logo.png, a media file that /accounts/login/?next=/ links, answered 404"
    ]
    # Every request went to this server, as the site's host, marked HTTPS.
    assert {host for _, host in Handler.requested} == {"localhost"}
    assert "/library.js" not in [path for path, _ in Handler.requested]


def test_a_static_file_a_page_links_that_is_missing_fails(site: Site) -> None:
    visited = visit(site, ["/broken/"], PREFIXES)
    assert visited.failure == (
        "GET /static/gone.css, a static file collectstatic did not produce that /broken/ "
        "links, answered 404"
    )


def test_a_failing_page_reached_by_a_redirect_is_named_with_the_redirect(site: Site) -> None:
    PAGES["/to-fails/"] = (302, {"Location": "/fails/"}, "")
    try:
        visited = visit(site, ["/to-fails/"], PREFIXES)
    finally:
        del PAGES["/to-fails/"]
    assert visited.failure == "GET /fails/ (where /to-fails/ redirects) answered 500"
    assert visit(site, ["/to-nowhere/"], PREFIXES).failure == (
        "GET /nowhere/ (where /to-nowhere/ redirects) answered 404"
    )


def test_a_page_without_an_answer_fails_without_a_traceback(site: Site) -> None:
    visited = visit(site, ["/", "/dies/"], PREFIXES)
    assert visited.failure is not None
    assert visited.failure.startswith("GET /dies/ got no answer (RemoteDisconnected: ")


def test_another_site_and_a_loop_are_not_followed(site: Site) -> None:
    assert visit(site, ["/away/"], PREFIXES).pages == ["/away/"]
    assert visit(site, ["/loop/"], PREFIXES).pages == ["/loop/"]
    # Redirects without end: a small budget of pages.
    endless = visit(site, ["/chain/0/"], PREFIXES)
    assert (endless.failure, len(endless.pages)) == (None, MAX_PAGES)


def test_the_file_prefixes_of_the_settings() -> None:
    assert file_prefixes("static/", "/media/", "localhost") == {
        "/media/": "media",
        "/static/": "static",
    }
    assert file_prefixes("https://cdn.example.com/static/", "", "localhost") == {}
    assert file_prefixes("http://localhost/assets/", None, "localhost") == {"/assets/": "static"}


def test_the_variables_a_failure_is_about_and_how_to_give_them() -> None:
    read = ["SECRET_KEY", "DJANGO_DEBUG", "API_TOKEN", "ALLOWED_HOSTS"]
    given = {"SECRET_KEY": "x", "ALLOWED_HOSTS": "localhost"}
    debug = "error: DEBUG is on in the settings serve would run with; turn it off"
    assert missing_variables(debug, read, given) == ["DJANGO_DEBUG"]
    required = "KeyError: 'API_TOKEN'"
    assert missing_variables(required, read, given) == ["API_TOKEN"]
    assert missing_variables("KeyError: 'OTHER'", read, given) == []
    assert way_in(["DJANGO_DEBUG", "API_TOKEN"], debug) == (
        "The settings read the environment variables DJANGO_DEBUG, API_TOKEN, which the "
        "verification does not give (it starts the archive without the build's environment): "
        "give them as the server does, with `python manage.py buildpyz --verify-env "
        "DJANGO_DEBUG=False --verify-env API_TOKEN=VALUE` (repeatable), or in "
        "ZIPAPP_VERIFY_ENV, the setting (a dict) or the environment variable (NAME=VALUE "
        "pairs). "
    )


def test_the_variables_are_observed_while_the_settings_load(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project = Path(__file__).resolve().parent / "projects" / "envsite"
    monkeypatch.syspath_prepend(str(project))
    monkeypatch.setenv("DEBUG", "False")  # read whether set or not
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert Observation("envsite.settings", None).names() == [
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
    # A goodconf class's fields are read from the whole environment at once: listed too.
    example = Observation("tests.settings", "tests.sample_conf:config").names()
    assert "SECRET_KEY" in example


def test_what_a_library_reads_while_it_is_imported_is_not_the_sites(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # celery, kombu and click read their own switches (C_IMPDEBUG, TERM...) when the
    # project's package imports them; a library function the settings call (decouple's
    # config(), dj-database-url) reads for the site.
    (tmp_path / "noisylib.py").write_text(
        "import os\nDEBUG_POOL = os.environ.get('NOISY_DEBUG')\n"
        "def config(name):\n    return os.environ.get(name)\n"
    )
    (tmp_path / "quietsite").mkdir()
    (tmp_path / "quietsite" / "__init__.py").write_text("import noisylib\n")
    (tmp_path / "quietsite" / "settings.py").write_text(
        "import os\nfrom noisylib import config\n"
        "SECRET_KEY = os.environ.get('SITE_KEY')\nBROKER = config('BROKER_URL')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    observed = Observation("quietsite.settings", None, ["quietsite"]).names()
    assert observed == ["SITE_KEY", "BROKER_URL"]


def test_what_a_dotenv_loader_fills_in_is_not_read_until_the_settings_read_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # python-dotenv's load_dotenv (django-environ's read_env alike) looks up each variable
    # of the file before it sets it: only those the settings then read are theirs.
    (tmp_path / ".env").write_text("POSTGRES_HOST=db\nDJANGO_SECRET_KEY=from-the-file\n")
    (tmp_path / "dotsite").mkdir()
    (tmp_path / "dotsite" / "__init__.py").write_text("")
    (tmp_path / "dotsite" / "settings.py").write_text(
        "import os\nfrom dotenv import load_dotenv\n"
        f"load_dotenv({str(tmp_path / '.env')!r})\n"
        "SECRET_KEY = os.environ['DJANGO_SECRET_KEY']\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("POSTGRES_HOST", raising=False)
    monkeypatch.delenv("DJANGO_SECRET_KEY", raising=False)
    assert Observation("dotsite.settings", None, ["dotsite"]).names() == ["DJANGO_SECRET_KEY"]


def test_a_throwaway_database_on_the_server_never_the_named_one() -> None:
    url = "postgres://site:p%40ss@db.internal:5432/production?sslmode=require"
    assert is_server_url(url)
    assert not is_server_url("sqlite:////var/lib/site/db.sqlite3")
    new, name = throwaway_url(url)
    assert name.startswith("test_production_") and len(name) == len("test_production_") + 8
    assert new == f"postgres://site:p%40ss@db.internal:5432/{name}?sslmode=require"
    assert throwaway_url(url)[1] != name  # builds side by side get their own


def test_a_role_that_may_not_create_databases_is_one_paragraph() -> None:
    output = "Got an error creating the test database: permission denied to create database\n"
    assert refusal(output, "test_site_1234abcd", "postgres://site:pw@127.0.0.1/site") == (
        "The verification creates a throwaway database, 'test_site_1234abcd', on the server "
        "of the DATABASE_URL it was given, as Django's test runner does, and serves the site "
        "from it rather than from the database the URL names, but the server refused: "
        "permission denied to create database. Let 'site' create databases (on PostgreSQL: "
        "ALTER ROLE site CREATEDB), or give the verification the URL of a role that may "
        "(--verify-env DATABASE_URL=...), or build with --no-verify (ZIPAPP_VERIFY = False) "
        "to skip this step."
    )
    assert refusal("relation does not exist", "test_site_1", "postgres://x@h/site") is None


def test_the_variable_secret_key_is_read_from_gets_a_throwaway() -> None:
    from django_zipapp.builder.verify import throwaway_secret_keys

    key = "development-only-not-secret"
    environ = {"DJANGO_SECRET_KEY": key, "DJANGO_DEBUG": "false", "SECRET_KEY": key}
    variables = ["DJANGO_SECRET_KEY", "DJANGO_DEBUG", "SECRET_KEY", "DATABASE_URL"]
    given = throwaway_secret_keys(key, variables, environ)
    # SECRET_KEY gets its own throwaway; the build's key is never passed on.
    assert list(given) == ["DJANGO_SECRET_KEY"]
    assert len(given["DJANGO_SECRET_KEY"]) >= 50
    assert given["DJANGO_SECRET_KEY"] != key
    assert throwaway_secret_keys(key, variables, {"DJANGO_SECRET_KEY": "other"}) == {}
    # A build without a key of its own (SECRET_KEY empty, as the host gives it).
    assert throwaway_secret_keys(None, variables, environ) == {}


def test_info_says_when_a_build_recorded_no_variables() -> None:
    lines = describe({"environment": ["DEBUG", "DATABASE_URL"]})
    assert "environment    DEBUG, DATABASE_URL" in lines
    assert "environment    (none read by the settings)" in describe({"environment": []})
    # An archive built before the variables were recorded.
    assert "environment    (not recorded)" in describe({})


ADMIN_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django_zipapp",
]


@override_settings(
    INSTALLED_APPS=ADMIN_APPS,
    ROOT_URLCONF="tests.i18n_urls",
    LANGUAGE_CODE="en-us",
    LANGUAGES=[("en", "English"), ("de", "German"), ("fr", "French")],
)
def test_the_admin_login_is_requested_in_the_language_the_site_serves() -> None:
    # startproject's LANGUAGE_CODE 'en-us' with LANGUAGES listing 'en': the site serves
    # /en/admin/login/, and /en-us/admin/login/ answers 404.
    assert admin_login_path() == "/en/admin/login/"
    with override_settings(LANGUAGE_CODE="pt-br"):  # not listed: Django serves it as it is
        assert admin_login_path() == "/pt-br/admin/login/"


def test_a_sqlite_database_url_given_to_the_verification_is_named_with_the_way_out() -> None:
    from django_zipapp.builder.verify_databases import note_unmigrated

    reported: list[str] = []
    note_unmigrated([], [], "sqlite:////srv/shop/db.sqlite3", reported.append)
    note_unmigrated([], [], "redis://127.0.0.1:6379/0", reported.append)
    assert reported == [
        "Note: the verification did not migrate: the DATABASE_URL it was given, "
        "'sqlite:////srv/shop/db.sqlite3', names a SQLite file of the build machine, which it "
        "never migrates. Leave DATABASE_URL out of --verify-env, and the verification gives "
        "the settings a temporary SQLite file of its own, or give --verify-env "
        "DATABASE_URL=sqlite:///%S/site/db.sqlite3 (%S stands for a folder of the "
        "verification, as for /var/lib in a unit)",
        "Note: the verification did not migrate: the DATABASE_URL it was given does not name "
        "a database on a server, or the settings do not read it",
    ]


def test_the_variable_of_the_sqlite_file_is_named_when_nothing_was_migrated() -> None:
    from django_zipapp.builder.verify_databases import note_unmigrated, sqlite_variable

    sqlite = {"ENGINE": "django.db.backends.sqlite3", "NAME": "/home/me/api/var/db.sqlite3"}
    read = ["SECRET_KEY", "SQLITE_PATH", "STATE_DIR"]
    found = sqlite_variable({"default": sqlite}, read, {"SQLITE_PATH": sqlite["NAME"]})
    assert found == "SQLITE_PATH=%S/site/db.sqlite3"
    # A variable that names the folder, and one the settings do not read.
    folder = {"STATE_DIR": "/home/me/api/var", "DB": sqlite["NAME"]}
    assert sqlite_variable({"default": sqlite}, read, folder) == "STATE_DIR=%S/site"
    assert sqlite_variable({"default": sqlite}, read, {"DB": sqlite["NAME"]}) is None
    reported: list[str] = []
    note_unmigrated([], [], None, reported.append, found)
    assert reported == [
        "Note: the verification did not migrate: the settings read the path of their SQLite "
        "database from SQLITE_PATH, which the verification does not give (it starts the "
        "archive without the build's environment). Give it one as the server would, with "
        "--verify-env SQLITE_PATH=%S/site/db.sqlite3 (%S stands for a folder of the "
        "verification, as for /var/lib in a unit)"
    ]


@pytest.mark.django_db
def test_sql_for_the_settings_server_failing_on_the_sqlite_stand_in_names_the_way_out() -> None:
    from django.db import OperationalError, connection

    from django_zipapp.builder.verify_databases import sqlite_stand_in_hint

    # What cookiecutter-django's sites migration runs, here on SQLite as the
    # verification's temporary database: PostgreSQL's sequence is not there.
    with pytest.raises(OperationalError) as failed, connection.cursor() as cursor:
        cursor.execute("SELECT last_value from django_site_id_seq")
    output = "".join(traceback.format_exception(failed.value))
    postgres = ["django.db.backends.postgresql"]
    assert sqlite_stand_in_hint(output, postgres, {}) == (
        "The settings' database is PostgreSQL, but without a DATABASE_URL the verification "
        "runs the site on a temporary SQLite file, where what only PostgreSQL has fails: "
        "give it a PostgreSQL server as the server has, with `python manage.py buildpyz "
        "--verify-env DATABASE_URL=postgres://USER:PASSWORD@HOST/NAME` (or "
        "ZIPAPP_VERIFY_ENV), and it creates a throwaway database there, and drops it once "
        "the site has answered. "
    )
    # Given a DATABASE_URL, or on SQLite already, or failing elsewhere: not this.
    assert sqlite_stand_in_hint(output, postgres, {"DATABASE_URL": "postgres://h/n"}) == ""
    assert sqlite_stand_in_hint(output, ["django.db.backends.sqlite3"], {}) == ""
    assert sqlite_stand_in_hint("KeyError: 'API_TOKEN'", postgres, {}) == ""
