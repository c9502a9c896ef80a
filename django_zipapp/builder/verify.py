"""The build's last step: start the new archive as production would, before anyone deploys it.

No HOME, a temporary state directory, no DEBUG, a throwaway SECRET_KEY (also under the
name the settings read it from), the database migrated into a temporary SQLite file (for
settings that read DATABASE_URL or STATE_DIRECTORY), or into a throwaway database on the
server of a DATABASE_URL given (verify_databases.py); then `check --deploy`, `serve`, and
a request for each URL, for the pages they redirect to and for the files those pages link
(crawl.py). The archive's commands and the failure message are in verify_commands.py.

The archive unpacks itself into the builder's cache (``verify/``), where the previous
build was unpacked, as on a server that deploys one build after another: a build whose
dependencies did not change links them instead of unpacking them again. Old builds there
are pruned as on a server (KEEP_BUILDS=2). Without a cache, into a temporary directory.
"""

from __future__ import annotations

import os
import platform
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from pathlib import Path

from . import throwaway
from .crawl import Site, Visit, missing_manifest_entries, visit
from .environment import missing_variables, way_in
from .errors import BuildError
from .target import Target, normalize_machine
from .verify_commands import EXIT_CONFIG_ERROR, VerificationFailed, error_line, finish, start
from .verify_databases import (
    DATABASES,
    THROWAWAY_VARIABLE,
    drop,
    keep,
    note_unmigrated,
    prepare_databases,
    restore,
)

START_TIMEOUT = 120  # seconds for serve to answer: the first start unpacks the archive


def can_run_here(target: Target) -> bool:
    """Whether this machine can start an archive built for target."""
    described = target.describe()
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    return bool(
        described["python"] == running
        and described["implementation"] == sys.implementation.name
        and described["os"] == [sys.platform]
        and described["machine"] == [normalize_machine(platform.machine())]
    )


def request_headers(settings: object) -> tuple[str, tuple[str, str] | None]:
    """The Host the settings allow, and the header that marks a request as HTTPS."""
    allowed = [h.lstrip(".") for h in getattr(settings, "ALLOWED_HOSTS", []) if "*" not in h]
    proxy = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    https = None
    if proxy:
        name = proxy[0].removeprefix("HTTP_").replace("_", "-").title()
        https = (name, proxy[1])
    return (allowed[0] if allowed else "localhost"), https


def throwaway_secret_keys(
    key: str | None, variables: Sequence[str], environ: Mapping[str, str] = os.environ
) -> dict[str, str]:
    """A throwaway value for each variable the settings' SECRET_KEY (key, None when the
    build has none) was read from under another name (django-environ's
    DJANGO_SECRET_KEY), as the verification gives one for SECRET_KEY: the build's own key
    must not reach the archive, and a server has its own."""
    return {
        name: secrets.token_urlsafe(50)
        for name in variables
        if key and name != "SECRET_KEY" and environ.get(name) == key
    }


def verify_archive(
    archive: Path,
    *,
    urls: Sequence[str],
    host: str,
    https_header: tuple[str, str] | None,
    environment: Mapping[str, str],
    report: Callable[[str], None],
    name: str = "site.pyz",
    cache_root: Path | None = None,
    database_key: str | None = None,
    file_prefixes: Mapping[str, str] | None = None,
    read_variables: Sequence[str] = (),
    sqlite_variable: str | None = None,
) -> None:
    """Raise BuildError when the archive fails a deployment check or answers with a 5xx.

    ``name``: the archive's name once deployed; ``cache_root``: where it unpacks itself
    and keeps the databases it migrated, between builds (None: a temporary directory);
    ``database_key``: whose databases they are (one site's builds); ``file_prefixes``:
    the URL prefixes of static and media files (crawl.file_prefixes); ``read_variables``:
    the environment variables the settings read, named when a failure is about one;
    ``sqlite_variable``: `NAME=VALUE` that gives the settings' SQLite file a path of the
    verification's (verify_databases.sqlite_variable), named when it migrates nothing.
    """
    with tempfile.TemporaryDirectory(prefix="buildpyz-verify-") as folder:
        scratch = Path(folder)
        root = _usable_root(cache_root)
        env = _environment(scratch, root or scratch / "cache", environment)
        try:
            _verify_in(
                scratch, _named(archive, scratch / name), env, report, urls,
                Site("", host, https_header), dict(file_prefixes or {}),
                None if root is None or database_key is None else root / DATABASES / database_key,
                given_database=environment.get("DATABASE_URL"),
                hosts_hint=_hosts_hint(host, read_variables, env),
                sqlite_variable=sqlite_variable,
            )  # fmt: skip
        except VerificationFailed as failure:
            missing = missing_variables(failure.output, read_variables, env)
            if missing:
                failure.hint = way_in(missing, failure.output)
            raise


def _verify_in(
    scratch: Path,
    archive: Path,
    env: dict[str, str],
    report: Callable[[str], None],
    urls: Sequence[str],
    site: Site,
    file_prefixes: dict[str, str],
    kept: Path | None,
    given_database: str | None,
    hosts_hint: str = "",
    sqlite_variable: str | None = None,
) -> None:
    """The verification's steps, in the scratch folder, the archive under its deployed name."""
    database = None
    if given_database and throwaway.is_server_url(given_database):
        env["DATABASE_URL"], database = throwaway.throwaway_url(given_database)
        env[THROWAWAY_VARIABLE] = database
        kept = None  # the SQLite files kept between builds are not this site's database
    restored = restore(kept, scratch)
    # `check --deploy` touches no database: it runs beside the migration.
    checking = start(archive, env, "check", "--deploy")
    try:
        try:
            migrated, created, admin = prepare_databases(
                archive, env, scratch, given_database, restored
            )
        except BuildError:
            finish(checking, "check --deploy")  # its failure, if any, comes first
            raise
        finish(checking, "check --deploy")
        note_unmigrated(migrated, created, given_database, report, sqlite_variable)
        pages = [*urls, admin] if admin is not None and admin not in urls else list(urls)
        visited = _serve_and_request(archive, env, scratch, pages, site, file_prefixes)
    finally:
        if checking.returncode is None:
            _stop_quietly(checking)
        if database is not None:
            drop(archive, env, database, report)
    _report_visit(visited, report, site.host, hosts_hint)
    if kept is not None and migrated:
        keep(migrated, scratch, kept)


def _stop_quietly(process: subprocess.Popen[str]) -> None:
    process.kill()
    process.communicate()


def _report_visit(
    visited: Visit, report: Callable[[str], None], host: str, hosts_hint: str
) -> None:
    for note in visited.notes:
        report(f"Note: {note}")
    if visited.bad_requests:
        report(
            f"Note: {', '.join(visited.bad_requests)} answered 400 Bad Request to the Host "
            f"{host!r}, as Django answers a Host that ALLOWED_HOSTS does not list, so "
            f"{'it was' if len(visited.bad_requests) == 1 else 'they were'} not verified."
            f"{hosts_hint}"
        )
    checked = [page for page in visited.pages if page not in visited.bad_requests]
    pages = f" ({', '.join(checked)})" if checked else ""
    files = len(visited.files)
    report(f"Verified {len(checked)} pages{pages} and {files} files they link")


def _hosts_hint(host: str, read: Sequence[str], given: Mapping[str, str]) -> str:
    """How to give the verification the server's ALLOWED_HOSTS, when the settings read
    them from a variable it was not given."""
    names = [name for name in read if "ALLOWED_HOSTS" in name and name not in given]
    if not names:
        return ""
    return (
        f" The settings read {names[0]}, which the verification does not give (it starts "
        "the archive without the build's environment): give it as the server does, with "
        f"`python manage.py buildpyz --verify-env {names[0]}={host}`."
    )


def _usable_root(root: Path | None) -> Path | None:
    if root is None:
        return None
    try:
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError:
        return None  # a cache that cannot be written: a temporary extraction
    return root if os.access(root, os.W_OK) else None


def _named(archive: Path, path: Path) -> Path:
    try:
        os.link(archive, path)
    except OSError:
        shutil.copyfile(archive, path)
        path.chmod(archive.stat().st_mode)
    return path


def _environment(scratch: Path, root: Path, extra: Mapping[str, str]) -> dict[str, str]:
    (scratch / "state").mkdir()
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "SHIV_ROOT": str(root),
        "KEEP_BUILDS": "2",
        "STATE_DIRECTORY": str(scratch / "state"),
        "SECRET_KEY": secrets.token_urlsafe(50),
        # No DEBUG: the build machine's does not leak in, and serve refuses DEBUG on.
        "DATABASE_URL": f"sqlite:///{scratch / 'state' / 'verify.sqlite3'}",
    }
    # pyenv's shims find the interpreter through these.
    for name in ("PYENV_ROOT", "PYENV_VERSION"):
        if name in os.environ:
            environment[name] = os.environ[name]
    given = {name: _expand_state_root(value, scratch / STATE_ROOT) for name, value in extra.items()}
    return {**environment, **given}


# What %S stands for in a --verify-env value, as in a unit's Environment= (/var/lib).
STATE_ROOT = "var-lib"
_SPECIFIER = re.compile(r"%[S%]")


def _expand_state_root(value: str, root: Path) -> str:
    """The value with systemd's %S (the root of state directories) standing for a folder
    of the verification's own, and %% for %; the folder a path under it names is created,
    as systemd creates a unit's StateDirectory=. A database there is the verification's
    own: migrated, and kept for the next build as one in STATE_DIRECTORY is."""
    if "%" not in value:
        return value
    expanded = _SPECIFIER.sub(lambda m: str(root) if m[0] == "%S" else "%", value)
    for match in re.finditer(re.escape(str(root)) + r"(/[^\s;,?#]*)?", expanded):
        (root / (match[1] or "/").lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
    return expanded


def _serve_and_request(
    archive: Path,
    env: dict[str, str],
    scratch: Path,
    urls: Sequence[str],
    site: Site,
    file_prefixes: dict[str, str],
) -> Visit:
    port = _free_port()
    log = scratch / "serve.log"
    command = [sys.executable, str(archive), "serve", "--bind", f"127.0.0.1:{port}"]
    with log.open("wb") as output:
        # A process group of its own: gunicorn's master and its worker.
        process = subprocess.Popen(
            [*command, "--workers", "1"],
            env=env,
            cwd="/",
            stdout=output,
            stderr=output,
            start_new_session=True,
        )
    try:
        site.base = f"http://127.0.0.1:{port}"
        _wait_until_answering(process, site.base, log)
        visited = visit(site, urls, file_prefixes)
        if visited.failure is not None:
            _stop(process)
            said = _read(log)
            raise VerificationFailed(visited.failure + _manifest_hint(said), said)
    except BaseException:
        _stop(process)
        raise
    # Every page answered, its log no longer needed: the server is killed, master and
    # worker, rather than stopped gracefully, which takes gunicorn a quarter of a second.
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    return visited


def _manifest_hint(output: str) -> str:
    missing = missing_manifest_entries(output)
    if not missing:
        return ""
    names = ", ".join(repr(name) for name in missing)
    return (
        f": the static file {names} has no entry in the static files manifest, so "
        "collectstatic did not produce it (a typo in {% static %}, or a file that is not "
        "in any static folder)"
    )


def _wait_until_answering(process: subprocess.Popen[bytes], base: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            said = _read(log)
            what = f"`serve` exited with {process.returncode}"
            if process.returncode == EXIT_CONFIG_ERROR:
                what = f"`serve` refused to start{error_line(said)}"
            raise VerificationFailed(what, said)
        try:
            with socket.create_connection(("127.0.0.1", int(base.rsplit(":", 1)[1])), 1):
                return
        except OSError:
            time.sleep(0.02)
    raise VerificationFailed(f"`serve` did not answer within {START_TIMEOUT} s", _read(log))


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _read(log: Path) -> str:
    return log.read_text(encoding="utf-8", errors="replace")
