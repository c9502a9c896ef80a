"""The real thing: build example_project into an archive, deploy it elsewhere, run it.

The archive runs as a separate process with its own SHIV_ROOT, without HOME, and serve is
spoken to over HTTP on 127.0.0.1 (the session's archive is built in tests/conftest.py).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from django_zipapp.runtime.no_builder import MESSAGE as NO_BUILDER

from .archives import (
    EXAMPLE,
    SECRET_KEY,
    Built,
    Server,
    build_env,
    build_in,
    get,
    run_archive,
    running_server,
    site_env,
)

pytestmark = pytest.mark.e2e


def test_build_reports_each_step_and_the_result(built: Built) -> None:
    lines = built.build_output.splitlines()
    # Each step as it starts, and what it did; pip's own lines (indented) in between.
    steps = [line for line in lines if line.startswith("- ") and not line.startswith("- Note:")]
    # What a default rule left out that a site may read is named, with its way in.
    assert (
        "- Note: left out notes/db.sqlite3 (database); --include notes/db.sqlite3 ships it" in lines
    )
    assert steps[0].startswith("- Project 'example' in ")
    assert steps[1] == "- Configuration: example.conf:config, loaded before the settings"
    assert steps[2] == "- Collecting static files"
    assert steps[3].startswith("- Collected ")
    assert steps[4] == "- Copying the project files"
    assert steps[5].startswith("- Copied ")
    assert re.fullmatch(r"- Scanned \d+ project files for secrets in \d+ ms: none found", steps[6])
    assert steps[7] == "- Installing dependencies from requirements.txt with pip"
    assert steps[8].startswith("- Using the installed dependencies ")
    assert steps[9] == "- Writing site.pyz"
    assert re.fullmatch(r"- SBOM: \d+ components \(CycloneDX 1\.6\) in \d+ ms", steps[10])
    assert steps[11] == "- Verifying: check --deploy, migrate, serve, then GET /"
    # Then each step's duration, results left out.
    took = lines.index(next(line for line in lines if line.startswith("Took ")))
    durations = [line.split(" s  ", 1)[1] for line in lines[took + 1 : -1]]
    assert durations == [
        "Starting Django, system checks, reading the project",
        steps[0].removeprefix("- ").split(" (")[0],
        "Collecting static files",
        "Copying the project files",
        "Installing dependencies from requirements.txt with pip",
        "Writing site.pyz",
        "Verifying: check --deploy, migrate, serve, then GET /",
    ]
    match = re.fullmatch(r"Built (\S+) \((\d+\.\d) MB, sha256 ([0-9a-f]{64})\)", lines[-1])
    assert match is not None, lines[-1]
    archive = Path(match[1])
    assert match[3] == hashlib.sha256(archive.read_bytes()).hexdigest()
    assert float(match[2]) == round(archive.stat().st_size / 1_000_000, 1)


def test_archive_holds_the_site_and_nothing_private(built: Built) -> None:
    with zipfile.ZipFile(built.archive) as archive:
        names = archive.namelist()
        info = json.loads(archive.read("django_zipapp.json"))
    assert "site-packages/example/settings.py" in names
    assert "site-packages/notes/migrations/0001_initial.py" in names
    assert "site-packages/notes/templates/notes/home.html" in names
    assert "site-packages/templates/base.html" in names
    assert "site-packages/staticfiles/staticfiles.json" in names
    assert "site-packages/django/__init__.py" in names
    assert "site-packages/django_zipapp/runtime/serve.py" in names
    assert "_django_zipapp_boot/__init__.py" in names
    assert "_django_zipapp_boot/extract.py" in names
    hashed_css = [n for n in names if re.search(r"notes/site\.[0-9a-f]{12}\.css$", n)]
    assert len(hashed_css) == 1
    assert {hashed_css[0] + ".gz", hashed_css[0] + ".br"} <= set(names)
    private = [
        name for name in names
        if re.search(r"(^|/)(\.env[^/]*|__pycache__|\.git|bin)(/|$)|\.sqlite3$", name)
        or name.endswith("example/cache.bin")
        or (name.endswith(".pyc") and name.startswith("site-packages/"))
    ]  # fmt: skip
    assert private == []
    assert info["settings_module"] == "example.settings"
    assert info["config_object"] == "example.conf:config"
    assert info["python"] == f"{sys.version_info.major}.{sys.version_info.minor}"
    assert "Django" in info["distributions"]


def test_the_modules_every_start_imports_from_the_archive_are_compiled(built: Built) -> None:
    # zipimport cannot write bytecode: without these, each start compiles them again.
    with zipfile.ZipFile(built.archive) as archive:
        compiled = sorted(
            name
            for name in archive.namelist()
            if name.endswith(".pyc") and not name.startswith("bytecode/")
        )
        sources = {name[:-1]: archive.read(name[:-1]) for name in compiled}
        boot = [n for n in archive.namelist() if n.startswith("_django_zipapp_boot/")]
        headers = {name: archive.read(name)[:16] for name in compiled}
    assert "_django_zipapp_boot/__init__.pyc" in compiled
    assert {f"{name}c" for name in boot if name.endswith(".py")} <= set(compiled)
    assert "__main__.pyc" in compiled
    assert "_bootstrap/__init__.pyc" in compiled
    startup = ("_bootstrap/", "_django_zipapp_boot/")
    assert all("/" not in name or name.startswith(startup) for name in compiled)
    for name, header in headers.items():
        # This interpreter's bytecode, hash-based and unchecked (PEP 552), of the very
        # source beside it.
        assert header[:4] == importlib.util.MAGIC_NUMBER, name
        assert int.from_bytes(header[4:8], "little") == 0b01, name
        assert header[8:] == importlib.util.source_hash(sources[name[:-1]]), name


def test_shebang_names_the_build_python(built: Built) -> None:
    first_line = built.archive.read_bytes().split(b"\n", 1)[0].decode()
    python = f"python{sys.version_info.major}.{sys.version_info.minor}"
    # A launcher that checks the file's size before Python reads it as a zip file.
    assert first_line.startswith(f'#!/usr/bin/env -S {python} -c "import sys,os;')
    assert f";s={built.archive.stat().st_size:<10};" in first_line
    assert len(first_line) + 1 <= 255


def test_help(built: Built) -> None:
    result = run_archive(built)
    assert result.returncode == 0
    assert result.stdout.startswith("usage: site.pyz [-C FILE] COMMAND [ARGS...]\n")
    assert "  serve          serve the site with gunicorn" in result.stdout


def test_missing_secret_key_is_one_clean_error(built: Built) -> None:
    environment = site_env(built, DATABASE_PASSWORD="unrelated")
    del environment["SECRET_KEY"]
    for command in (["migrate", "--noinput"], ["serve"]):
        result = run_archive(built, *command, env=environment)
        assert result.returncode == 78
        assert result.stderr == (
            "error: The configuration is invalid:\n"
            "  SECRET_KEY: required; set it in the config file or the SECRET_KEY "
            "environment variable\n"
        )
        assert result.stdout == ""


def test_serve_help_needs_no_configuration(built: Built) -> None:
    environment = site_env(built)
    del environment["SECRET_KEY"]
    result = run_archive(built, "serve", "--help", env=environment)
    assert result.returncode == 0
    assert result.stdout.startswith("usage: site.pyz serve [-h] [--bind HOST:PORT]")


def test_invalid_value_is_named_and_never_shown(built: Built) -> None:
    password = "pl4nted-db-p4ssw0rd"
    environment = site_env(built, DATABASE_URL=f"postgres://site:{password}@db:notaport/site")
    result = run_archive(built, "check", env=environment)
    assert result.returncode == 78
    assert result.stderr.startswith("error: The configuration is invalid:\n  DATABASE_URL: ")
    assert password not in result.stderr + result.stdout


def test_runs_what_it_carries_not_what_the_interpreter_has(built: Built) -> None:
    # This interpreter has django-zipapp, shiv and Django installed: none of its copies may
    # be used by the archive.
    code = (
        "import importlib.util, os, sys, django, django_zipapp\n"
        "print(django.__file__)\nprint(django_zipapp.__file__)\n"
        "print(importlib.util.find_spec('shiv'))\n"
        f"print({str(built.archive)!r} in map(os.path.abspath, sys.path))"
    )
    result = subprocess.run(
        [sys.executable, str(built.archive), "shell", "--verbosity", "0", "-c", code],
        env=site_env(built),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    django_file, zipapp_file, shiv_spec, archive_on_path = result.stdout.splitlines()
    cache = str(built.work / "cache")
    assert django_file.startswith(cache)
    assert zipapp_file.startswith(cache)
    assert shiv_spec == "None"
    assert archive_on_path == "False"  # nothing is imported from the zip once it is unpacked


def _boot_modules(names: list[str]) -> list[str]:
    return [
        name
        for name in names
        if name.split(".")[0] == "_django_zipapp_boot"
        or name == "django_zipapp.boot"
        or name.startswith("django_zipapp.boot.")
    ]


def test_the_runtime_uses_the_boot_package_that_started_the_archive(built: Built) -> None:
    # The archive runs its boot package as _django_zipapp_boot; the runtime, the checks
    # and the bundle's helpers must use that one, not load django_zipapp.boot's modules
    # a second time from site-packages.
    code = (
        "import json, sys\n"
        "import django_zipapp.checks, django_zipapp.runtime.builds, django_zipapp.runtime.bundle\n"
        "from django_zipapp.booted import boot\n"
        "print(json.dumps([boot.__name__, sorted(sys.modules)]))"
    )
    result = run_archive(built, "shell", "--verbosity", "0", "-c", code)
    assert result.returncode == 0, result.stderr
    used, loaded = json.loads(result.stdout)
    assert used == "_django_zipapp_boot"
    boot_modules = _boot_modules(loaded)
    assert "_django_zipapp_boot.prune" in boot_modules
    assert "_django_zipapp_boot.environment" in boot_modules
    assert [name for name in boot_modules if name.startswith("django_zipapp.")] == []


def test_info_loads_the_boot_package_once(built: Built) -> None:
    # info runs the runtime from the archive itself, nothing unpacked: the same holds.
    result = subprocess.run(
        [sys.executable, "-X", "importtime", str(built.archive), "info"],
        env=site_env(built),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    imported = [
        line.rpartition("|")[2].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:")
    ]
    assert "django_zipapp.runtime.bundle" in imported
    boot_modules = _boot_modules(imported)
    assert "_django_zipapp_boot.environment" in boot_modules
    assert [name for name in boot_modules if name.startswith("django_zipapp.")] == []


def test_a_management_command_runs_with_the_garbage_collector_on(built: Built) -> None:
    # The boot module turns it off for the start; a long command (a data migration, a
    # worker) must not pile up cyclic garbage for its whole run.
    code = "import gc; print(gc.isenabled())"
    result = run_archive(built, "shell", "--verbosity", "0", "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "True\n"


def test_buildpyz_inside_the_archive_explains_itself(built: Built) -> None:
    # Before the configuration is read: without SECRET_KEY, the refusal is still this.
    result = run_archive(built, "buildpyz", env=site_env(built, SECRET_KEY=""))
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == f"error: {NO_BUILDER.format(what='buildpyz')}\n"


def test_management_commands_from_anywhere(migrated: Built, tmp_path: Path) -> None:
    production = tmp_path / "production.yaml"
    production.write_text(
        f"SECRET_KEY: {SECRET_KEY}\nDEBUG: false\nALLOWED_HOSTS: [site.example.com]\nHTTPS: true\n"
    )
    production.chmod(0o600)  # it holds the secret key
    environment = site_env(migrated)
    del environment["SECRET_KEY"]  # from the file this time
    check = run_archive(
        migrated, "check", "--deploy", "-C", str(production), env=environment, cwd=tmp_path
    )
    assert (check.returncode, check.stderr) == (0, "")
    assert check.stdout == "System check identified no issues (0 silenced).\n"

    superuser = site_env(
        migrated,
        DJANGO_SUPERUSER_USERNAME="admin",
        DJANGO_SUPERUSER_EMAIL="admin@example.com",
        DJANGO_SUPERUSER_PASSWORD="a-long-enough-password-42",
    )
    created = run_archive(migrated, "createsuperuser", "--noinput", env=superuser, cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    assert created.stdout == "Superuser created successfully.\n"
    query = "from django.contrib.auth.models import User; print(User.objects.get().is_superuser)"
    shell = run_archive(migrated, "shell", "--verbosity", "0", "-c", query, cwd=Path("/"))
    assert shell.stdout == "True\n"


def test_data_lives_in_the_state_directory(migrated: Built) -> None:
    assert (migrated.work / "state" / "db.sqlite3").is_file()
    assert list((migrated.work / "cache").rglob("*.sqlite3")) == []


def test_extracts_into_cache_directory_without_home(built: Built, tmp_path: Path) -> None:
    environment = site_env(built, CACHE_DIRECTORY=str(tmp_path / "systemd-cache"))
    del environment["SHIV_ROOT"]
    result = run_archive(built, "check", env=environment)
    assert result.returncode == 0, result.stderr
    (extraction,) = (tmp_path / "systemd-cache").glob("site.pyz_*/site-packages")
    assert (extraction / "django_zipapp" / "boot" / "entry.py").is_file()


def test_nowhere_to_extract_says_what_to_set(built: Built) -> None:
    environment = site_env(built)
    del environment["SHIV_ROOT"]
    result = run_archive(built, "check", env=environment)
    assert result.returncode == 1
    assert result.stderr == (
        "error: site.pyz needs a writable directory to unpack itself into and found none: "
        "SHIV_ROOT and CACHE_DIRECTORY are not set, and neither XDG_CACHE_HOME nor HOME names "
        "a usable directory. Set SHIV_ROOT to a writable directory, or run it under systemd "
        "with CacheDirectory= set.\n"
    )


def test_other_python_is_refused_by_name(built: Built) -> None:
    other = _other_python()
    if other is None:
        pytest.skip("no other CPython 3.x to start the archive with")
    result = subprocess.run(
        [other, str(built.archive), "check"], env=site_env(built), capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1
    built_for = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert result.stderr.startswith(
        f"error: site.pyz was built for cpython {built_for} and cannot run on cpython 3."
    )
    assert "Traceback" not in result.stderr
    assert not (built.work / "cache").exists() or all(
        (p / "site-packages").exists() for p in (built.work / "cache").glob("site.pyz_*")
    )


def _other_python() -> str | None:
    running = sys.version_info.minor
    candidates = [f"python3.{minor}" for minor in range(10, 15) if minor != running]
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates += [
        str(p) for p in sorted(pyenv.glob("3.*/bin/python3")) if f"/3.{running}." not in str(p)
    ]
    for candidate in candidates:
        path = shutil.which(candidate) or (candidate if Path(candidate).is_file() else None)
        if path and subprocess.run([path, "-c", "pass"], capture_output=True).returncode == 0:
            return path
    return None


@pytest.fixture
def server(migrated: Built, tmp_path: Path) -> Iterator[Server]:
    environment = site_env(migrated, GUNICORN_CMD_ARGS="--limit-request-line 512")
    with running_server(migrated.archive, environment, tmp_path / "serve.log") as running:
        yield running


def test_serve_answers_pages_and_static_files(server: Server) -> None:
    status, _, body = get(server.base + "/")
    assert status == 200
    html = body.decode()
    assert "<h1>Notes</h1>" in html
    match = re.search(r'href="(/static/notes/site\.[0-9a-f]{12}\.css)"', html)
    assert match is not None, html
    status, headers, _ = get(server.base + match[1], {"Accept-Encoding": "gzip"})
    assert status == 200
    assert "immutable" in headers["Cache-Control"]
    assert headers["Content-Encoding"] == "gzip"
    assert headers["Content-Type"].startswith("text/css")
    assert headers["ETag"].startswith('"')
    status, headers, _ = get(server.base + "/static/admin/css/base.css")
    assert status == 200
    assert headers["Cache-Control"] == "max-age=60, public"


def test_gunicorn_cmd_args_reach_the_server(server: Server) -> None:
    status, _, _ = get(server.base + "/?q=" + "x" * 400)
    assert status == 200
    with pytest.raises(urllib.error.HTTPError) as refused:
        get(server.base + "/?q=" + "x" * 600)
    # gunicorn refuses the request line as too long: 414 from gunicorn 27, a plain 400
    # before (the floor, 24.0, in tox's floors environment).
    assert refused.value.code in (400, 414)
    refused.value.close()


def test_serve_stops_gracefully_on_sigterm(server: Server) -> None:
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=30) == 0
    log = server.log.read_text()
    assert "Traceback" not in log
    assert "Listening at: http://127.0.0.1:" in log
    assert "Shutting down: Master" in log
    assert "gunicorn.ctl" not in log  # no control socket under a missing HOME


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    shutil.copytree(
        EXAMPLE, project, ignore=shutil.ignore_patterns("__pycache__", "var", "staticfiles")
    )
    return project


def assert_clean_failure(result: subprocess.CompletedProcess[str], message: str) -> None:
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(f"CommandError: {message}"), result.stderr


def test_build_without_requirements_says_what_to_add(project_copy: Path) -> None:
    (project_copy / "requirements.txt").unlink()
    assert_clean_failure(
        build_in(project_copy),
        f"No dependencies were found for the project in {str(project_copy)!r}. Add a "
        "requirements.txt there",
    )
    assert not (project_copy / "site.pyz").exists()


def test_build_with_an_uninstallable_requirement(project_copy: Path) -> None:
    with (project_copy / "requirements.txt").open("a") as requirements:
        requirements.write("django-zipapp-no-such-distribution==1.0\n")
    result = build_in(project_copy)
    assert_clean_failure(result, "pip could not install the dependencies (exit status 1).")
    assert "No matching distribution found for django-zipapp-no-such-distribution==1.0" in (
        result.stderr
    )


def test_build_with_broken_static_storage(project_copy: Path) -> None:
    settings = project_copy / "example" / "settings.py"
    settings.write_text(settings.read_text().replace("CompressedManifest", "NoSuch"))
    result = build_in(project_copy)
    assert_clean_failure(
        result,
        "STORAGES['staticfiles'] names the backend 'whitenoise.storage.NoSuchStaticFilesStorage', "
        "which cannot be imported",
    )
    assert "Installing dependencies" not in result.stdout  # refused before the slow steps


def test_failed_build_keeps_the_previous_archive(project_copy: Path) -> None:
    (project_copy / "site.pyz").write_bytes(b"the archive in service")
    (project_copy / "requirements.txt").write_text("django-zipapp-no-such-distribution==1.0\n")
    assert build_in(project_copy).returncode == 1
    assert (project_copy / "site.pyz").read_bytes() == b"the archive in service"
    assert [p.name for p in project_copy.glob(".site.pyz*")] == []


def startproject(tmp_path: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "django", "startproject", "mysite"],
        cwd=tmp_path,
        check=True,
        env=build_env(tmp_path),
    )
    project = tmp_path / "mysite"
    settings = project / "mysite" / "settings.py"
    text = settings.read_text()
    text = text.replace("INSTALLED_APPS = [", 'INSTALLED_APPS = [\n    "django_zipapp",')
    settings.write_text(text)
    (project / "requirements.txt").write_text("Django>=5.2\n")
    return project


def test_the_startproject_database_is_refused_at_build_time(tmp_path: Path) -> None:
    project = startproject(tmp_path)
    build = build_in(project)
    database = project / "db.sqlite3"
    assert (build.returncode, "Traceback" in build.stderr) == (1, False)
    error = build.stderr.splitlines()[-1]
    assert error.startswith(
        "CommandError: The system checks found 1 error(s), so no archive was built. "
        "django_zipapp.E005: "
        f"DATABASES['default']['NAME'] is {str(database)!r}, inside the project directory "
        "that is packed into the archive: the database would live in the folder the archive "
        "unpacks itself into, which the next deploy removes, with the data. Set "
        "DATABASES['default']['NAME'] to a path outside the project that the server keeps, "
    ), error
    assert "Installing dependencies" not in build.stdout
    assert not (project / "site.pyz").exists()


def test_a_startproject_site_builds_and_serves(tmp_path: Path) -> None:
    """A project straight from `django-admin startproject`, without goodconf."""
    project = startproject(tmp_path)
    settings = project / "mysite" / "settings.py"
    text = settings.read_text()
    # The data must live outside the archive; STATIC_ROOT is where collectstatic writes.
    for default in ("BASE_DIR / 'db.sqlite3'", 'BASE_DIR / "db.sqlite3"'):
        text = text.replace(default, "os.environ.get('SITE_DATABASE', '/var/lib/mysite/db')")
    settings.write_text(
        "import os\n"
        + text
        + '\nSTATIC_ROOT = BASE_DIR / "staticfiles"\nSTATICFILES_DIRS = [BASE_DIR / "static"]\n'
    )
    (project / "static").mkdir()
    (project / "static" / "site.css").write_text("body { margin: 0 }\n")
    build = build_in(project)  # the default output: site.pyz in the working directory
    assert build.returncode == 0, build.stdout + build.stderr
    assert build.stdout.splitlines()[-1].startswith(f"Built {project / 'site.pyz'} (")
    # startproject's storage does not hash names, its key is literal, DEBUG is on: each
    # said once, and the build goes on.
    warnings = [line.split(":")[1].strip() for line in build.stderr.splitlines()]
    assert warnings == ["django_zipapp.W001", "django_zipapp.W002", "django_zipapp.W003"]

    built = Built(project / "site.pyz", build.stdout, tmp_path)
    environment = site_env(built, SITE_DATABASE=str(tmp_path / "site.sqlite3"))
    del environment["SECRET_KEY"]  # startproject's settings carry their own
    migrate = run_archive(built, "migrate", "--noinput", env=environment)
    assert migrate.returncode == 0
    # STATICFILES_DIRS were collected at build time; the archive does not look for them.
    assert migrate.stderr == ""
    assert (tmp_path / "site.sqlite3").is_file()

    # A literal startproject key and DEBUG on: refused until the operator says so.
    refused = run_archive(built, "serve", env=environment)
    assert refused.returncode == 78
    assert refused.stderr.startswith("error: DEBUG is on")
    allow = ("--allow-debug", "--allow-insecure-secret-key")
    log = tmp_path / "serve.log"
    with running_server(built.archive, environment, log, workers=1, options=allow) as server:
        status, _, body = get(server.base + "/admin/login/")
        assert status == 200
        assert b'href="/static/admin/css/base.css"' in body
        status, headers, _ = get(
            server.base + "/static/admin/css/base.css", {"Accept-Encoding": "gzip"}
        )
        assert status == 200
        # Unhashed names (startproject's storage) are compressed, but only briefly cached.
        assert headers["Content-Encoding"] == "gzip"
        assert headers["Cache-Control"] == "max-age=60, public"
        assert get(server.base + "/static/site.css")[2] == b"body { margin: 0 }\n"
