"""The build's last step: start the new archive as production would, before anyone deploys it.

No HOME, a temporary state directory, no DEBUG, a throwaway SECRET_KEY, the database
migrated into a temporary SQLite file (for settings that read DATABASE_URL or
STATE_DIRECTORY); then `check --deploy`, `serve`, and a request for each URL.

The archive unpacks itself into the builder's cache (``verify/``), where the previous
build was unpacked, as on a server that deploys one build after another: a build whose
dependencies did not change links them instead of unpacking them again. Old builds there
are pruned as on a server (KEEP_BUILDS=2). Without a cache, into a temporary directory.
"""

from __future__ import annotations

import json
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from pathlib import Path

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
    "in ZIPAPP_VERIFY_ENV (for example {'API_TOKEN': 'verification'}). "
)
# In the builder's cache: the databases the last verification of each site migrated.
DATABASES = "databases"
# Run by the archive's `shell`: migrate as `migrate --noinput` does, when every database
# of the settings is an SQLite file in the verification's scratch folder; say whether.
SCRATCH_VARIABLE = "DJANGO_ZIPAPP_VERIFY_SCRATCH"
MIGRATE_SCRIPT = f"""\
import json, os, pathlib
from django.conf import settings
from django.core.management import call_command
scratch = pathlib.Path(os.environ["{SCRATCH_VARIABLE}"]).resolve()
temporary = all(
    "sqlite" in str(d.get("ENGINE", ""))
    and pathlib.Path(str(d.get("NAME", ""))).resolve().is_relative_to(scratch)
    for d in settings.DATABASES.values()
)
if temporary:
    call_command("migrate", interactive=False, verbosity=0)
files = [str(d.get("NAME", "")) for d in settings.DATABASES.values()] if temporary else []
print(json.dumps({{"migrated": temporary, "files": files}}))
"""


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
) -> None:
    """Raise BuildError when the archive fails a deployment check or answers with a 5xx.

    ``name``: the archive's name once deployed; ``cache_root``: where it unpacks itself
    and keeps the databases it migrated, between builds (None: a temporary directory);
    ``database_key``: whose databases they are (one site's builds).
    """
    with tempfile.TemporaryDirectory(prefix="buildpyz-verify-") as folder:
        scratch = Path(folder)
        root = _usable_root(cache_root)
        env = _environment(scratch, root or scratch / "cache", environment)
        # Under its deployed name, so that the builds unpacked there are pruned as one
        # site's; a link when the file system allows.
        archive = _named(archive, scratch / name)
        kept = None if root is None or database_key is None else root / DATABASES / database_key
        restored = _restore(kept, scratch)
        # `check --deploy` touches no database: it runs beside the migration.
        checking = _start(archive, env, "check", "--deploy")
        try:
            try:
                migrated = _migrate_if_temporary(archive, env, scratch)
            except BuildError:
                if not restored:
                    raise
                # The previous build's migrations may not lead to this one's (another
                # branch): a new database, as for a first build.
                _forget(restored)
                migrated = _migrate_if_temporary(archive, env, scratch)
        except BuildError:
            _finish(checking, "check --deploy")  # its failure, if any, comes first
            raise
        _finish(checking, "check --deploy")
        if not migrated:
            report(
                "Note: the verification did not migrate: a database of the settings is not "
                "a temporary SQLite file (set DATABASE_URL in ZIPAPP_VERIFY_ENV to choose one)"
            )
        _serve_and_request(archive, env, scratch, urls, host, https_header)
        if kept is not None and migrated:
            _keep(migrated, scratch, kept)


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
        what = f"`{command}` did not finish in {COMMAND_TIMEOUT} s"
        raise BuildError(_failed(what, "")) from None
    if process.returncode == EXIT_CONFIG_ERROR:
        # A field the project's configuration requires, which only the server gives.
        what = f"`{command}` found its configuration invalid"
        raise BuildError(_failed(what, stderr, CONFIG_HINT))
    if process.returncode != 0:
        said = f"{stdout}\n{stderr}"
        raise BuildError(_failed(f"`{command}` exited with {process.returncode}", said))
    return stdout


def _migrate_if_temporary(archive: Path, env: dict[str, str], scratch: Path) -> list[Path]:
    """The temporary SQLite databases, migrated; none when a database is not one."""
    # One start of the archive for both: where the databases are, and the migration.
    process = _start(
        archive, {**env, SCRATCH_VARIABLE: str(scratch)}, "shell", "--no-imports", "-c",
        MIGRATE_SCRIPT,
    )  # fmt: skip
    printed = json.loads(_finish(process, "migrate --noinput").strip().splitlines()[-1])
    files = [Path(name).resolve() for name in printed["files"]] if printed["migrated"] else []
    inside = scratch.resolve()
    return [inside / path.relative_to(inside) for path in files]


def _serve_and_request(
    archive: Path,
    env: dict[str, str],
    scratch: Path,
    urls: Sequence[str],
    host: str,
    https_header: tuple[str, str] | None,
) -> None:
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
        base = f"http://127.0.0.1:{port}"
        _wait_until_answering(process, base, log)
        headers = {"Host": host, **(dict([https_header]) if https_header else {})}
        for url in urls:
            status = _status(base + url, headers)
            if status >= 500:
                _stop(process)
                raise BuildError(_failed(f"GET {url} answered {status}", _read(log)))
    except BaseException:
        _stop(process)
        raise
    # Every page answered, its log no longer needed: the server is killed, master and
    # worker, rather than stopped gracefully, which takes gunicorn a quarter of a second.
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _wait_until_answering(process: subprocess.Popen[bytes], base: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BuildError(_failed(f"`serve` exited with {process.returncode}", _read(log)))
        try:
            with socket.create_connection(("127.0.0.1", int(base.rsplit(":", 1)[1])), 1):
                return
        except OSError:
            time.sleep(0.02)
    raise BuildError(_failed(f"`serve` did not answer within {START_TIMEOUT} s", _read(log)))


def _status(url: str, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, headers=headers)
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=60) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        error.close()
        return error.code


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A redirect answers; following it would leave the server under test.
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


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
