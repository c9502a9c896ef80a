"""The build's last step: start the new archive as production would, before anyone deploys it.

No HOME, a temporary state directory, no DEBUG, a throwaway SECRET_KEY, the database
migrated into a temporary SQLite file (for settings that read DATABASE_URL or
STATE_DIRECTORY), or into a throwaway database on the server of a DATABASE_URL given
(throwaway.py); then `check --deploy`, `serve`, and a request for each URL, for the
pages they redirect to and for the files those pages link (crawl.py).

The archive unpacks itself into the builder's cache (``verify/``), where the previous
build was unpacked, as on a server that deploys one build after another: a build whose
dependencies did not change links them instead of unpacking them again. Old builds there
are pruned as on a server (KEEP_BUILDS=2). Without a cache, into a temporary directory.
"""

from __future__ import annotations

import json
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

START_TIMEOUT = 120  # seconds for serve to answer: the first start unpacks the archive
COMMAND_TIMEOUT = 600
OUTPUT_TAIL = 40  # lines of the server's own output quoted in the error
# sysexits' EX_CONFIG, as the archive exits on an invalid configuration.
EXIT_CONFIG_ERROR = 78
CONFIG_HINT = (
    "The verification gives the archive a throwaway SECRET_KEY, DATABASE_URL and state "
    "directory, and nothing else: give a value for each other required field it names "
    "with --verify-env NAME=VALUE or in ZIPAPP_VERIFY_ENV (for example "
    "{'API_TOKEN': 'verification'}). "
)
CONFIG_INVALID = "error: The configuration is invalid"
# In the builder's cache: the databases the last verification of each site migrated.
DATABASES = "databases"
# Run by the archive's `shell`: create and migrate, as Django's test runner does, each
# database of the settings named after the throwaway database on a server; migrate as
# `migrate --noinput` does when every other database is an SQLite file in the
# verification's scratch folder; say which.
SCRATCH_VARIABLE = "DJANGO_ZIPAPP_VERIFY_SCRATCH"
THROWAWAY_VARIABLE = "DJANGO_ZIPAPP_VERIFY_DATABASE"
MIGRATE_SCRIPT = f"""\
import json, os, pathlib
from django.core.management import call_command
from django.db import connections
scratch = pathlib.Path(os.environ["{SCRATCH_VARIABLE}"]).resolve()
throwaway = os.environ.get("{THROWAWAY_VARIABLE}")
named = {{a: connections[a].settings_dict["NAME"] for a in connections}}
created = [a for a, name in named.items() if throwaway and name == throwaway]
for alias in created:
    connections[alias].settings_dict["TEST"]["NAME"] = throwaway
    connections[alias].creation.create_test_db(verbosity=0, autoclobber=True)
others = [connections[a].settings_dict for a in connections if a not in created]
temporary = all(
    "sqlite" in str(d.get("ENGINE", ""))
    and pathlib.Path(str(d.get("NAME", ""))).resolve().is_relative_to(scratch)
    for d in others
)
if temporary and others:
    call_command("migrate", interactive=False, verbosity=0)
files = [str(d.get("NAME", "")) for d in others] if temporary else []
print(json.dumps({{"migrated": temporary, "files": files, "created": created}}))
"""


class VerificationFailed(BuildError):
    """The new archive failed a step; the message quotes what it said."""

    def __init__(self, what: str, output: str, hint: str = "") -> None:
        super().__init__(what)
        self.what, self.output, self.hint = what, output, hint

    def __str__(self) -> str:
        return _failed(self.what, self.output, self.hint)


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
) -> None:
    """Raise BuildError when the archive fails a deployment check or answers with a 5xx.

    ``name``: the archive's name once deployed; ``cache_root``: where it unpacks itself
    and keeps the databases it migrated, between builds (None: a temporary directory);
    ``database_key``: whose databases they are (one site's builds); ``file_prefixes``:
    the URL prefixes of static and media files (crawl.file_prefixes); ``read_variables``:
    the environment variables the settings read, named when a failure is about one.
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
) -> None:
    """The verification's steps, in the scratch folder, the archive under its deployed name."""
    database = None
    if given_database and throwaway.is_server_url(given_database):
        env["DATABASE_URL"], database = throwaway.throwaway_url(given_database)
        env[THROWAWAY_VARIABLE] = database
        kept = None  # the SQLite files kept between builds are not this site's database
    restored = _restore(kept, scratch)
    # `check --deploy` touches no database: it runs beside the migration.
    checking = _start(archive, env, "check", "--deploy")
    try:
        try:
            migrated, created = _prepare_databases(archive, env, scratch, given_database, restored)
        except BuildError:
            _finish(checking, "check --deploy")  # its failure, if any, comes first
            raise
        _finish(checking, "check --deploy")
        _note_unmigrated(migrated, created, given_database, report)
        visited = _serve_and_request(archive, env, scratch, urls, site, file_prefixes)
    finally:
        if checking.returncode is None:
            _stop_quietly(checking)
        if database is not None:
            _drop(archive, env, database, report)
    _report_visit(visited, report)
    if kept is not None and migrated:
        _keep(migrated, scratch, kept)


def _prepare_databases(
    archive: Path, env: dict[str, str], scratch: Path, given: str | None, restored: list[Path]
) -> tuple[list[Path], list[str]]:
    """The temporary SQLite databases migrated, and the aliases of the throwaway ones."""
    try:
        try:
            return _migrate_if_temporary(archive, env, scratch)
        except BuildError:
            if not restored:
                raise
            # The previous build's migrations may not lead to this one's (another
            # branch): a new database, as for a first build.
            _forget(restored)
            return _migrate_if_temporary(archive, env, scratch)
    except VerificationFailed as failure:
        database = env.get(THROWAWAY_VARIABLE)
        refused = database and throwaway.refusal(failure.output, database, given or "")
        if refused:
            raise BuildError(refused) from None
        raise


def _note_unmigrated(
    migrated: list[Path], created: list[str], given: str | None, report: Callable[[str], None]
) -> None:
    if migrated or created:
        return
    if given is None:
        report(
            "Note: the verification did not migrate: a database of the settings is not "
            "a temporary SQLite file (give it one with --verify-env DATABASE_URL=... when "
            "the settings read DATABASE_URL)"
        )
    else:
        report(
            "Note: the verification did not migrate: the DATABASE_URL it was given does "
            "not name a database on a server, or the settings do not read it"
        )


def _drop(archive: Path, env: dict[str, str], database: str, report: Callable[[str], None]) -> None:
    """Drop the throwaway database, whether or not the verification got as far as using it."""
    try:
        _run(archive, env, "shell", "-c", throwaway.DROP_SCRIPT)
    except BuildError as exc:
        report(
            f"Note: the verification's throwaway database {database!r} could not be dropped; "
            f"drop it by hand. {exc}"
        )


def _stop_quietly(process: subprocess.Popen[str]) -> None:
    process.kill()
    process.communicate()


def _report_visit(visited: Visit, report: Callable[[str], None]) -> None:
    for note in visited.notes:
        report(f"Note: {note}")
    pages = ", ".join(visited.pages)
    files = len(visited.files)
    report(f"Verified {len(visited.pages)} pages ({pages}) and {files} files they link")


def _restore(kept: Path | None, scratch: Path) -> list[Path]:
    """Put the databases the previous verification migrated in place; the files put."""
    if kept is None or not kept.is_dir():
        return []
    try:
        shutil.copytree(kept, scratch, dirs_exist_ok=True)
    except (OSError, shutil.Error):
        return []  # a new database, as for a first build
    return [scratch / path.relative_to(kept) for path in kept.rglob("*") if path.is_file()]


def _forget(files: list[Path]) -> None:
    for path in files:
        path.unlink(missing_ok=True)


def _keep(files: list[Path], scratch: Path, kept: Path) -> None:
    """Keep the migrated databases for the next build's verification, replacing the last."""
    try:
        kept.parent.mkdir(parents=True, exist_ok=True)
        temporary = Path(tempfile.mkdtemp(prefix=f".{kept.name}.", dir=kept.parent))
    except OSError:
        return  # a cache that cannot be written: the next build migrates from scratch
    try:
        for path in files:
            for sibling in (path, path.with_name(path.name + "-wal")):
                if sibling.is_file():
                    target = temporary / sibling.relative_to(scratch)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(sibling, target)
        old = kept.with_name(f".{kept.name}.old-{os.getpid()}")
        if kept.exists():
            os.rename(kept, old)
        os.rename(temporary, kept)
        shutil.rmtree(old, ignore_errors=True)
    except OSError:
        shutil.rmtree(temporary, ignore_errors=True)


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
    return {**environment, **extra}


def _run(archive: Path, env: dict[str, str], *args: str) -> str:
    return _finish(_start(archive, env, *args), " ".join(args))


def _start(archive: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(archive), *args],
        env=env,
        cwd="/",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )


def _finish(process: subprocess.Popen[str], command: str) -> str:
    try:
        stdout, stderr = process.communicate(timeout=COMMAND_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise VerificationFailed(f"`{command}` did not finish in {COMMAND_TIMEOUT} s", "") from None
    if process.returncode == EXIT_CONFIG_ERROR:
        # The archive's own refusal: a field only the server gives, DEBUG on...
        if CONFIG_INVALID in stderr:
            what = f"`{command}` found its configuration invalid"
            raise VerificationFailed(what, stderr, CONFIG_HINT)
        said = _error_line(stderr)
        raise VerificationFailed(f"`{command}` refused to start{said}", stderr)
    if process.returncode != 0:
        said = f"{stdout}\n{stderr}"
        raise VerificationFailed(f"`{command}` exited with {process.returncode}", said)
    return stdout


def _error_line(output: str) -> str:
    """The archive's own error line (``error: ...``), as the end of a sentence."""
    lines = [line for line in output.splitlines() if line.startswith("error: ")]
    if not lines:
        return ""
    # Its first clause: the whole line is quoted below the message.
    said = re.split(r"; |\. ", lines[-1].removeprefix("error: "))[0].rstrip(".")
    return f": {said}"


def _migrate_if_temporary(
    archive: Path, env: dict[str, str], scratch: Path
) -> tuple[list[Path], list[str]]:
    """The temporary SQLite databases, migrated (none when a database is not one), and
    the aliases of the throwaway databases created on a server."""
    # One start of the archive for all: where the databases are, and the migration.
    process = _start(
        archive, {**env, SCRATCH_VARIABLE: str(scratch)}, "shell", "--no-imports", "-c",
        MIGRATE_SCRIPT,
    )  # fmt: skip
    printed = json.loads(_finish(process, "migrate --noinput").strip().splitlines()[-1])
    files = [Path(name).resolve() for name in printed["files"]] if printed["migrated"] else []
    inside = scratch.resolve()
    return [inside / path.relative_to(inside) for path in files], list(printed["created"])


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
                what = f"`serve` refused to start{_error_line(said)}"
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


def _failed(what: str, output: str, hint: str = "") -> str:
    tail = "\n".join(output.strip().splitlines()[-OUTPUT_TAIL:])
    said = f" It said:\n{tail}" if tail else ""
    return (
        f"The new archive failed its verification, started as production would: {what}, "
        f"so it was not written to the output path. {hint}Fix what the output names (the "
        "same happens on the server), or build with --no-verify (ZIPAPP_VERIFY = False) to "
        f"skip this step.{said}"
    )
