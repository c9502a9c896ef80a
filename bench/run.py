#!/usr/bin/env python3
"""Benchmark django-zipapp against a plain virtualenv, side by side in one run.

From the repository root:

    python3 bench/run.py [--runs N] [--venv PATH] [--json PATH] [--markdown PATH] [--keep]

Standard library only: the script makes its own virtualenv, installs django-zipapp and the
example project's requirements into it, and measures the example project built into an
archive against the same project served from that virtualenv. Every figure has a baseline
measured in the same run, on the same machine; the table gives both and their ratio.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import secrets
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from http.client import HTTPException
from pathlib import Path
from typing import IO, Any

import asgi  # bench/asgi.py, beside this script
import bundle  # bench/bundle.py, beside this script
import deploys  # bench/deploys.py, beside this script
import load  # bench/load.py, beside this script
import media  # bench/media.py
import packing  # bench/packing.py, beside this script
import scan  # bench/scan.py
import trust  # bench/trust.py
import verify  # bench/verify.py
import warm  # bench/warm.py

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "example_project"
RESULTS = REPO / "bench" / "results"

WORKERS = 2
WORKER_CLASSES = ("gthread", "sync")
THREADS = 4  # serve's default for gthread, given to every gthread server alike
LOAD_SECONDS = 5.0  # one wrk measurement
WARM_UP_SECONDS = 2.0
POLL_INTERVAL = 0.01  # seconds between two requests while a server starts
START_TIMEOUT = 60.0  # a server that has not answered 200 by then has failed
STOP_TIMEOUT = 10.0  # gunicorn's graceful stop, before SIGKILL
COMMAND_TIMEOUT = 900.0  # any setup or build command: the script always ends by itself
TAIL_LINES = 15
MB = 1_000_000  # as buildpyz reports sizes
PYTHON_VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"

# Variables of the calling shell that would change what is measured: a PYTHONPATH or
# PYTHONHOME that leaks other packages in, PYTHONDONTWRITEBYTECODE that keeps the archive's
# extraction from ever caching bytecode (every start would compile from source), and the
# example's goodconf fields and gunicorn's own variables, which the example reads without
# a prefix.
DROPPED_VARIABLES = (
    "PYTHONPATH", "PYTHONHOME", "PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX",
    "PYTHONSTARTUP", "PYTHONINSPECT", "VIRTUAL_ENV",
    "DJANGO_SETTINGS_MODULE", "EXAMPLE_CONFIG", "ALLOWED_HOSTS", "DATABASE_URL", "HTTPS",
    "SERVE_BIND", "SERVE_WORKERS", "SERVE_THREADS", "SERVE_TIMEOUT", "SERVE_ACCESS_LOG",
    "SHIV_ROOT", "SHIV_FORCE_EXTRACT", "CACHE_DIRECTORY", "STATE_DIRECTORY",
    "GUNICORN_CMD_ARGS", "WEB_CONCURRENCY",
)  # fmt: skip

# Loopback requests must not go to a proxy named in the environment.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class StepError(Exception):
    """An expected failure: reported as one line naming the step, plus the output's tail."""

    def __init__(self, step: str, message: str, tail: str = "") -> None:
        super().__init__(f"{step}: {message}")
        self.step = step
        self.message = message
        self.tail = tail


@dataclass(frozen=True)
class Workspace:
    root: Path  # the temporary directory that holds everything below but the venv
    venv: Path
    site: Path  # a copy of example_project
    archive: Path
    logs: Path
    env: dict[str, str]

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def server_env(self) -> dict[str, str]:
        # A HOME of its own for the servers: gunicorn's control socket goes under it
        # (~/.gunicorn), and the user's ~/.local site-packages stays off sys.path.
        home = self.root / "home"
        home.mkdir(exist_ok=True)
        return {**self.env, "HOME": str(home)}

    def log(self, step: str) -> Path:
        # Numbered in order of execution, so the directory reads as the run's history.
        slug = "".join(c if c.isalnum() else "-" for c in step.lower()).strip("-")
        count = len(list(self.logs.iterdir()))
        return self.logs / f"{count + 1:03d}-{slug[:60]}.log"


@dataclass(frozen=True)
class Row:
    measure: str
    zipapp: list[float]
    baseline: list[float] | None = None
    baseline_is: str = ""
    # Sample i of each side was measured in the same round, back to back: the ratio is
    # the median of the rounds' ratios, so that a slow patch of a shared machine, which
    # weighs on both sides of one round alike, moves it less than a ratio of medians.
    paired: bool = False

    def ratio(self) -> float | None:
        # No ratio to a baseline that did nothing (a sync worker held by slow clients).
        if not self.baseline or not statistics.median(self.baseline):
            return None
        if self.paired and len(self.zipapp) == len(self.baseline):
            rounds = [
                mine / theirs
                for mine, theirs in zip(self.zipapp, self.baseline, strict=True)
                if theirs and mine == mine and theirs == theirs  # neither zero nor NaN
            ]
            if rounds:
                return statistics.median(rounds)
        return statistics.median(self.zipapp) / statistics.median(self.baseline)


@dataclass
class Samples:
    """Every figure measured, in seconds or MB, filled in as the run goes."""

    clean_builds: list[float] = field(default_factory=list)
    rebuilds: list[float] = field(default_factory=list)
    shiv_builds: list[float] = field(default_factory=list)  # baseline of both builds
    installed: list[float] = field(default_factory=list)  # baseline of the unpacked size
    archive: float = 0.0
    shiv_archive: float = 0.0  # baseline of the archive's size
    # Load figures by key ("static rps/archive/gthread"...), and peak memory.
    load: dict[str, list[float]] = field(default_factory=dict)

    def add(self, key: str, value: float) -> None:
        self.load.setdefault(key, []).append(value)

    unpacked: list[float] = field(default_factory=list)
    warm: list[float] = field(default_factory=list)
    venv: list[float] = field(default_factory=list)  # baseline of warm
    cold: list[float] = field(default_factory=list)


# Progress and running commands


def note(message: str) -> None:
    # Progress goes to stderr: stdout carries only the results, ready to redirect.
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def tail(log: Path, lines: int = TAIL_LINES) -> str:
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip().splitlines()[-lines:])


def run(
    step: str,
    command: Sequence[str | Path],
    *,
    ws: Workspace,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> float:
    """Run a command to its end, its output into a log; return its wall-clock seconds."""
    args = [str(part) for part in command]
    log = ws.log(step)
    started = time.perf_counter()
    with log.open("wb") as out:
        process = start(args, cwd=cwd, env=env or ws.env, out=out)
        try:
            status = process.wait(timeout=COMMAND_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise StepError(
                step, f"`{shlex.join(args)}` took over {COMMAND_TIMEOUT:.0f} s", tail(log)
            ) from None
        finally:
            kill_group(process)
    elapsed = time.perf_counter() - started
    if status != 0:
        raise StepError(step, f"`{shlex.join(args)}` exited with status {status}", tail(log))
    return elapsed


def start(
    args: list[str], *, cwd: Path | None, env: dict[str, str], out: IO[bytes]
) -> subprocess.Popen[bytes]:
    # A session of its own: its process group then holds exactly what it started, which
    # kill_group can end without touching anything else.
    return subprocess.Popen(
        args,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def kill_group(process: subprocess.Popen[bytes]) -> None:
    # ProcessLookupError: the group is already empty, the usual case.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def output_of(command: Sequence[str | Path], env: dict[str, str]) -> str | None:
    """The stripped stdout of a quick informational command, or None if it fails."""
    try:
        done = subprocess.run(
            [str(part) for part in command],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


# Servers


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def time_to_first_200(
    step: str,
    command: Callable[[str], list[str | Path]],
    *,
    ws: Workspace,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> float:
    """Seconds from starting the server to the first 200 on /; the server is then stopped.

    command receives the HOST:PORT to bind, a port free at the time of the call.
    """
    bind = f"127.0.0.1:{free_port()}"
    args = [str(part) for part in command(bind)]
    log = ws.log(step)
    with log.open("wb") as out:
        started = time.perf_counter()
        process = start(args, cwd=cwd, env=env or ws.env, out=out)
        try:
            return wait_for_200(step, process, f"http://{bind}/", started, log)
        finally:
            stop(process)


def wait_for_200(
    step: str, process: subprocess.Popen[bytes], url: str, started: float, log: Path
) -> float:
    deadline = started + START_TIMEOUT
    while True:
        if process.poll() is not None:
            message = f"the server exited with status {process.returncode} before answering"
            raise StepError(step, message, tail(log))
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            raise StepError(step, f"no 200 from {url} within {START_TIMEOUT:.0f} s", tail(log))
        status = get_status(url, timeout=remaining)
        if status == 200:
            return time.perf_counter() - started
        if status is not None:
            # A started server that answers anything else will not turn to 200 by waiting.
            raise StepError(step, f"{url} answered {status}, not 200", tail(log))
        time.sleep(POLL_INTERVAL)


def get_status(url: str, *, timeout: float) -> int | None:
    """The status of a GET, or None while the server does not accept connections yet."""
    try:
        with OPENER.open(url, timeout=timeout) as response:
            response.read()
            status: int = response.status
            return status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, HTTPException, OSError):
        return None


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, gunicorn's graceful stop, then SIGKILL for whatever of the group is left."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            # gunicorn misses a SIGTERM that lands while it forks a worker: the child still
            # has the master's handler. Its own graceful timeout would then be 30 s.
            note(f"pid {process.pid} still running {STOP_TIMEOUT:.0f} s after SIGTERM; killed")
    kill_group(process)


# Sizes


def tree_size(path: Path) -> int:
    """Bytes of the files under path (their lengths, not the blocks they occupy)."""
    if path.is_file():
        return path.stat().st_size
    total = 0
    for directory, _, files in os.walk(path):
        for name in files:
            file = Path(directory, name)
            if not file.is_symlink():
                total += file.stat().st_size
    return total


def site_packages(venv: Path) -> Path:
    return venv / "lib" / f"python{PYTHON_VERSION}" / "site-packages"


# Setup


def clean_environment(state_dir: Path) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name not in DROPPED_VARIABLES}
    # manage.py only sets development defaults when these are unset: set all three, so
    # that every run, of the archive or of the virtualenv, is configured for production.
    env["SECRET_KEY"] = secrets.token_urlsafe(50)
    env["DEBUG"] = "false"
    env["STATE_DIR"] = str(state_dir)
    return env


def make_workspace(root: Path, venv: Path | None) -> Workspace:
    logs = root / "logs"
    logs.mkdir()
    state = root / "state"
    state.mkdir()
    site = root / "site"
    # A copy, so that the baseline's collectstatic and the migrations' state never write
    # into the repository's example_project.
    shutil.copytree(
        EXAMPLE,
        site,
        ignore=shutil.ignore_patterns("__pycache__", "*.py[co]", "var", "staticfiles", "*.sqlite3"),
    )
    return Workspace(
        root=root,
        venv=venv or root / "venv",
        site=site,
        archive=root / "dist" / "site.pyz",
        logs=logs,
        env=clean_environment(state),
    )


def prepare_venv(ws: Workspace) -> None:
    reused = ws.python.exists()
    if reused:
        check_venv_python(ws)
        note(f"reusing the virtualenv {ws.venv}")
    else:
        note(f"creating the virtualenv {ws.venv}")
        run("create the virtualenv", [sys.executable, "-m", "venv", ws.venv], ws=ws)
    pip: list[str | Path] = [ws.python, "-m", "pip", "install", "--no-input"]
    note("installing django-zipapp and the example's requirements into it")
    if reused:
        # pip keeps an installed django-zipapp of the same version: force the checkout's.
        run("reinstall django-zipapp", [*pip, "--force-reinstall", "--no-deps", REPO], ws=ws)
    run(
        "install django-zipapp and the requirements",
        # The sign extra: bench/trust.py times buildpyz --sign.
        [*pip, f"{REPO}[sign]", "-r", ws.site / "requirements.txt"],
        ws=ws,
    )


def check_venv_python(ws: Workspace) -> None:
    # The comparison is only fair with one interpreter on both sides.
    script = "import sys; print('%d.%d' % sys.version_info[:2])"
    theirs = output_of([ws.python, "-c", script], ws.env)
    if theirs != PYTHON_VERSION:
        raise StepError(
            "check the virtualenv",
            f"{ws.venv} runs Python {theirs or '(unknown)'}, this script runs {PYTHON_VERSION}; "
            f"give a virtualenv made with {sys.executable}, or leave out --venv.",
        )


# Measurements


def build(ws: Workspace, step: str, options: Sequence[str] = ()) -> float:
    ws.archive.parent.mkdir(exist_ok=True)
    return run(
        step,
        [ws.python, "manage.py", "buildpyz", "-o", ws.archive, *options],
        ws=ws,
        cwd=ws.site,
    )


def baseline_install(ws: Workspace, index: int) -> tuple[float, int]:
    """The virtualenv way to ready a host: a new venv plus pip install -r, warm pip cache.

    Returns its seconds and the bytes that pip install added to site-packages.
    """
    venv = ws.root / f"baseline-venv-{index}"
    step = f"baseline install {index}"
    seconds = run(f"{step}: python -m venv", [sys.executable, "-m", "venv", venv], ws=ws)
    before = set(os.listdir(site_packages(venv)))
    requirements = ws.site / "requirements.txt"
    seconds += run(
        f"{step}: pip install -r",
        [venv / "bin" / "python", "-m", "pip", "install", "--no-input", "-r", requirements],
        ws=ws,
    )
    added = sum(
        tree_size(site_packages(venv) / name)
        for name in os.listdir(site_packages(venv))
        if name not in before
    )
    shutil.rmtree(venv)
    return seconds, added


def measure_builds(ws: Workspace, runs: int, samples: Samples) -> None:
    """Clean builds and rebuilds through buildpyz, against shiv invoked by hand."""
    note("one unmeasured build, so that pip's cache holds every distribution")
    build(ws, "first build")
    key = trust.make_key(ws.root / "minisign") if trust.can_sign(ws.python) else None
    for index in range(1, runs + 1):
        # Interleaved, so that a slow patch of the machine weighs on both sides alike.
        samples.clean_builds.append(clean_build(ws, index))
        samples.rebuilds.append(build(ws, f"rebuild {index}"))
        rebuilt = sorted(ws.logs.glob(f"*-rebuild-{index}.log"))[-1].read_text()
        scanned = packing.scan_ms(rebuilt)
        if scanned is not None:
            samples.add("secret scan ms", scanned)
        made = trust.sbom_ms(rebuilt)
        if made is not None:
            samples.add(trust.SBOM_MS, made)
        samples.shiv_builds.append(hand_written_shiv(ws, index))
        for name, seconds in verify.measure(partial(build, ws), index).items():
            samples.add(name, seconds)
        for name, seconds in trust.measure(partial(build, ws), index, key, ws.root).items():
            samples.add(name, seconds)
        note(
            f"build {index}/{runs}: clean {samples.clean_builds[-1]:.2f} s, "
            f"rebuild {samples.rebuilds[-1]:.2f} s, shiv by hand {samples.shiv_builds[-1]:.2f} s"
        )
    samples.archive = ws.archive.stat().st_size / MB
    samples.shiv_archive = (ws.root / "dist" / "shiv.pyz").stat().st_size / MB
    _, size = baseline_install(ws, 1)
    samples.installed.append(size / MB)
    front_end = ws.root / "front-end-site"
    shutil.copytree(ws.site, front_end, ignore=shutil.ignore_patterns("staticfiles"))
    if packing.vendor_front_end(front_end, ws.root):
        now, before = packing.front_end_sizes(str(ws.python), front_end, ws.root, ws.env)
        samples.add("front-end archive MB/now", now)
        samples.add("front-end archive MB/sources packed", before)


def clean_build(ws: Workspace, index: int) -> float:
    """buildpyz in a new copy of the project, with empty caches but pip's own.

    Whatever the builder keeps between builds (in the project, next to the output or in
    the user's cache directory) starts empty; pip's download cache stays warm, so that
    the network does not decide the figure.
    """
    site = ws.root / f"clean-{index}"
    shutil.copytree(ws.site, site, ignore=shutil.ignore_patterns("staticfiles", "__pycache__"))
    cache = ws.root / f"clean-cache-{index}"
    env = {**ws.env, "XDG_CACHE_HOME": str(cache), "PIP_CACHE_DIR": pip_cache_dir(ws)}
    output = ws.root / f"clean-dist-{index}" / "site.pyz"
    output.parent.mkdir()
    command: list[str | Path] = [ws.python, "manage.py", "buildpyz", "-o", output]
    seconds = run(f"clean build {index}", command, ws=ws, cwd=site, env=env)
    shutil.rmtree(site)
    shutil.rmtree(output.parent)
    return seconds


def pip_cache_dir(ws: Workspace) -> str:
    found = output_of([ws.python, "-m", "pip", "cache", "dir"], ws.env)
    return found or str(Path.home() / ".cache" / "pip")


def hand_written_shiv(ws: Workspace, index: int) -> float:
    """What one would write without django-zipapp: collectstatic, copy, shiv -r."""
    staging = ws.root / "shiv-staging"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    started = time.perf_counter()
    manage: list[str | Path] = [ws.python, "manage.py"]
    run(
        f"shiv by hand {index}: collectstatic",
        [*manage, "collectstatic", "--noinput"],
        ws=ws,
        cwd=ws.site,
    )
    for name in ("example", "notes", "templates", "staticfiles"):
        shutil.copytree(
            ws.site / name, staging / name, ignore=shutil.ignore_patterns("__pycache__")
        )
    command: list[str | Path] = [
        ws.venv / "bin" / "shiv",
        "--compressed",
        "--site-packages",
        staging,
        "-e",
        "django.core.management:execute_from_command_line",
        "-p",
        f"/usr/bin/env python{PYTHON_VERSION}",
        "-o",
        ws.root / "dist" / "shiv.pyz",
        "-r",
        ws.site / "requirements.txt",
    ]
    run(f"shiv by hand {index}: shiv", command, ws=ws)
    return time.perf_counter() - started


def prepare_serving(ws: Workspace, warm_root: Path) -> None:
    note("migrating (archive, then virtualenv, one SQLite database in STATE_DIR)")
    run(
        "archive: migrate",
        [*archive_python(ws), ws.archive, "migrate", "--noinput"],
        ws=ws,
        env={**ws.env, "SHIV_ROOT": str(warm_root)},
    )
    manage: list[str | Path] = [ws.python, "manage.py"]
    run("virtualenv: migrate", [*manage, "migrate", "--noinput"], ws=ws, cwd=ws.site)
    # With DEBUG off, the manifest storage needs collected files to render any page; the
    # archive carries its own, collected at build time.
    run("virtualenv: collectstatic", [*manage, "collectstatic", "--noinput"], ws=ws, cwd=ws.site)


def server_options(bind: str) -> list[str | Path]:
    # The same for both sides; everything else is each side's default.
    return ["--bind", bind, "--workers", str(WORKERS)]


def serve_archive(ws: Workspace, step: str, shiv_root: Path) -> float:
    return time_to_first_200(
        step,
        lambda bind: [*archive_python(ws), ws.archive, "serve", *server_options(bind)],
        ws=ws,
        env={**ws.server_env, "SHIV_ROOT": str(shiv_root)},
    )


def archive_python(ws: Workspace) -> list[str | Path]:
    """The interpreter that runs the archive: the virtualenv's, with the same start-up.

    Not through the shebang: `/usr/bin/env python3.X` may go through a version manager's
    shim, which the baseline's console script does not. Not this script's interpreter
    either: its site-packages' .pth files run at every start (a developer's machine may
    have many), before the archive can set sys.path aside, while the virtualenv's
    gunicorn never sees them. The virtualenv's python is the same binary, with the
    same few .pth files on both sides.
    """
    return [ws.python]


def serve_venv(ws: Workspace, step: str) -> float:
    gunicorn = ws.venv / "bin" / "gunicorn"
    return time_to_first_200(
        step,
        lambda bind: [gunicorn, "example.wsgi:application", *server_options(bind)],
        ws=ws,
        cwd=ws.site,
        env=ws.server_env,
    )


def serve_cold(ws: Workspace, index: int) -> tuple[float, int]:
    """A first start into an empty SHIV_ROOT; returns its seconds and the bytes unpacked."""
    shiv_root = ws.root / f"shiv-cold-{index}"
    shiv_root.mkdir()
    seconds = serve_archive(ws, f"archive cold start {index}", shiv_root)
    unpacked = tree_size(shiv_root)
    shutil.rmtree(shiv_root)
    return seconds, unpacked


def measure_starts(ws: Workspace, runs: int, samples: Samples) -> None:
    warm_root = ws.root / "shiv-warm"
    prepare_serving(ws, warm_root)
    note("one unmeasured start of each, so that both have written their bytecode")
    serve_archive(ws, "archive warm-up start", warm_root)
    serve_venv(ws, "virtualenv warm-up start")
    for index in range(1, runs + 1):
        # Every other round the virtualenv first: neither side always follows the other.
        if index % 2:
            samples.warm.append(serve_archive(ws, f"archive warm start {index}", warm_root))
            samples.venv.append(serve_venv(ws, f"virtualenv start {index}"))
        else:
            samples.venv.append(serve_venv(ws, f"virtualenv start {index}"))
            samples.warm.append(serve_archive(ws, f"archive warm start {index}", warm_root))
        seconds, size = serve_cold(ws, index)
        samples.cold.append(seconds)
        samples.unpacked.append(size / MB)
        note(
            f"start {index}/{runs}: archive warm {samples.warm[-1]:.2f} s, "
            f"virtualenv {samples.venv[-1]:.2f} s, archive cold {seconds:.2f} s"
        )


# Load: static files and a page under wrk, next to their baselines


@contextlib.contextmanager
def serving(
    step: str, args: Sequence[str | Path], *, ws: Workspace, env: dict[str, str],
    ready: str, cwd: Path | None = None,
) -> Iterator[subprocess.Popen[bytes]]:  # fmt: skip
    """A server kept running for the block, once it answers 200 on ready."""
    log = ws.log(step)
    with log.open("wb") as out:
        started = time.perf_counter()
        process = start([str(part) for part in args], cwd=cwd, env=env, out=out)
        try:
            wait_for_200(step, process, ready, started, log)
            yield process
        finally:
            stop(process)


def gunicorn_settings(bind: str, kind: str) -> list[str | Path]:
    # serve's defaults, spelled out for the virtualenv's gunicorn: the same on both sides.
    threads = ["--threads", str(THREADS)] if kind == "gthread" else []
    return ["--bind", bind, "--workers", str(WORKERS), "--worker-class", kind, *threads,
            "--preload"]  # fmt: skip


def load_servers(
    stack: contextlib.ExitStack, ws: Workspace, kind: str, warm_root: Path
) -> dict[str, tuple[str, int]]:
    """Start every side for one worker class; returns name -> (base URL, pid)."""
    servers: dict[str, tuple[str, int]] = {}
    gunicorn = ws.venv / "bin" / "gunicorn"

    def launch(name: str, args: Callable[[str], list[str | Path]], ready: str = "/",
               **env: str) -> None:  # fmt: skip
        bind = f"127.0.0.1:{free_port()}"
        base = f"http://{bind}"
        process = stack.enter_context(
            serving(
                f"{name} ({kind}) serving",
                args(bind),
                ws=ws,
                cwd=ws.site,
                env={**ws.server_env, **env},
                ready=base + ready,
            )
        )
        servers[name] = (base, process.pid)

    launch(
        "archive",
        lambda bind: [
            *archive_python(ws),
            ws.archive,
            "serve",
            "--bind",
            bind,
            "--workers",
            str(WORKERS),
            "--worker-class",
            kind,
            "--threads",
            str(THREADS if kind == "gthread" else 1),
            "--access-log",
            "",
        ],
        SHIV_ROOT=str(warm_root),
    )
    launch(
        "middleware",
        lambda bind: [gunicorn, "example.wsgi:application", *gunicorn_settings(bind, kind)],
        DJANGO_SETTINGS_MODULE="bench_middleware",
    )
    floor_headers = ws.site / "bench_floor_headers.json"
    floor_headers.write_text(json.dumps(answer_headers(servers["archive"][0] + static_path(ws))))
    launch(
        "floor",
        lambda bind: [gunicorn, "bench_floor:application", *gunicorn_settings(bind, kind)],
        BENCH_FLOOR_FILE=str(static_file(ws)),
        BENCH_FLOOR_HEADERS=str(floor_headers),
    )
    nginx = load.nginx_binary()
    if nginx and kind == WORKER_CLASSES[0]:
        launch("nginx", lambda bind: nginx_command(ws, nginx, bind), ready=static_path(ws))
    return servers


def nginx_command(ws: Workspace, nginx: str, bind: str) -> list[str | Path]:
    prefix = ws.root / "nginx"
    prefix.mkdir(exist_ok=True)
    conf = prefix / "nginx.conf"
    conf.write_text(load.nginx_conf(prefix, bind, ws.site / "staticfiles", WORKERS))
    return [nginx, "-p", prefix, "-c", conf]


def static_path(ws: Workspace) -> str:
    manifest = json.loads((ws.site / "staticfiles" / "staticfiles.json").read_text())
    return "/static/" + str(manifest["paths"]["admin/css/base.css"])


def static_file(ws: Workspace) -> Path:
    return ws.site / "staticfiles" / static_path(ws).removeprefix("/static/")


def answer_headers(url: str) -> list[tuple[str, str]]:
    """The headers an application gave with its answer: gunicorn adds the others."""
    with OPENER.open(url, timeout=10) as response:
        response.read()
        added = {"server", "date", "connection", "transfer-encoding"}
        return [(k, v) for k, v in response.getheaders() if k.lower() not in added]


def check_same_bytes(ws: Workspace, servers: dict[str, tuple[str, int]]) -> None:
    expected = static_file(ws).read_bytes()
    for name, (base, _) in servers.items():
        with OPENER.open(base + static_path(ws), timeout=10) as response:
            if response.read() != expected:
                raise StepError(f"{name} static file", "answered other bytes than the file")


def measure_load(
    ws: Workspace, runs: int, seconds: float, samples: Samples, warm_root: Path
) -> None:
    if not load.wrk_available():
        note("wrk not found (apt-get install wrk): the load rows are left out")
        return
    (ws.site / "bench_floor.py").write_text(load.FLOOR_APP)
    (ws.site / "bench_middleware.py").write_text(load.MIDDLEWARE_SETTINGS)
    for kind in WORKER_CLASSES:
        with contextlib.ExitStack() as stack:
            servers = load_servers(stack, ws, kind, warm_root)
            check_same_bytes(ws, servers)
            targets = [
                (name, "static", base + static_path(ws), pid)
                for name, (base, pid) in servers.items()
            ]
            targets += [
                (name, "dynamic", servers[name][0] + "/", servers[name][1])
                for name in ("archive", "middleware")
            ]
            note(f"{kind}: warming up {len(targets)} targets")
            for name, what, url, _ in targets:
                load.wrk(url, WARM_UP_SECONDS, ws.log(f"warm-up {name} {what} {kind}"))
            for index in range(1, runs + 1):
                # Every other round backwards: no side always runs first, or last.
                ordered = targets if index % 2 else targets[::-1]
                load_round(ws, kind, ordered, seconds, samples, servers["archive"][0])
                note(f"{kind}: round {index}/{runs} done")
            if kind == WORKER_CLASSES[0]:
                samples.add("rss/archive", load.peak_rss_mb(servers["archive"][1]))
                samples.add("rss/middleware", load.peak_rss_mb(servers["middleware"][1]))


def load_round(
    ws: Workspace,
    kind: str,
    targets: list[tuple[str, str, str, int]],
    seconds: float,
    samples: Samples,
    archive: str,
) -> None:
    for name, what, url, pid in targets:
        result = load.wrk(url, seconds, ws.log(f"wrk {name} {what} {kind}"), pid)
        if result.errors:
            note(f"{name} {what} ({kind}): {result.errors} errors under load")
        samples.add(f"{what} rps/{name}/{kind}", result.requests_per_second)
        samples.add(f"{what} p99/{name}/{kind}", result.p99_ms)
        samples.add(f"{what} cpu/{name}/{kind}", result.cpu_us_per_request)
    port = int(archive.rsplit(":", 1)[1])
    with load.slow_clients("127.0.0.1", port):
        result = load.wrk(archive + static_path(ws), seconds, ws.log(f"wrk slow clients {kind}"))
    samples.add(f"slow rps/archive/{kind}", result.requests_per_second)


def build_rows(samples: Samples) -> list[Row]:
    """The rows that measure_builds() fills: --only-builds prints these alone."""
    shiv = "shiv by hand: collectstatic, copy the project, `shiv -r requirements.txt`"
    return [
        Row("build, clean (s)", samples.clean_builds, samples.shiv_builds, shiv, paired=True),
        Row("rebuild, warm cache (s)", samples.rebuilds, samples.shiv_builds, shiv, paired=True),
        Row("archive size (MB)", [samples.archive], [samples.shiv_archive], shiv),
        *verify.rows(samples.load, Row),
        *trust.rows(samples.load, samples.rebuilds, Row),
        *packing_rows(samples),
        *scan.rows(samples.load, Row),
    ]


def table(samples: Samples) -> list[Row]:
    installed = "what `pip install -r requirements.txt` adds to a new virtualenv's site-packages"
    builds = build_rows(samples)
    return [
        *builds[:3],
        Row("unpacked by a cold start (MB)", samples.unpacked, samples.installed, installed),
        Row(
            "start to first 200, warm (s)",
            samples.warm,
            samples.venv,
            f"`gunicorn example.wsgi:application --workers {WORKERS}` from the virtualenv",
            paired=True,
        ),
        Row(
            "start to first 200, cold (s)",
            samples.cold,
            samples.warm,
            "the archive's warm start (its extraction already there)",
            paired=True,
        ),
        *builds[3:],
        *load_rows(samples),
        *(
            Row(*fields)
            for fields in bundle.rows(samples.load, samples.archive, samples.cold, samples.warm)
        ),
    ]


def packing_rows(samples: Samples) -> list[Row]:
    rows = [
        Row(
            "secret scan in a rebuild (ms)",
            samples.load.get("secret scan ms", []),
            [seconds * 1000 for seconds in samples.rebuilds],
            "the whole rebuild",
            paired=True,
        ),
        Row(
            "archive size, vendored front end (MB)",
            samples.load.get("front-end archive MB/now", []),
            samples.load.get("front-end archive MB/sources packed"),
            "the same build packing the STATICFILES_DIRS sources as well, as before",
        ),
    ]
    return [row for row in rows if row.zipapp]


def load_rows(samples: Samples) -> list[Row]:
    got = samples.load
    if not got:
        return []
    css = "the 22 KB hashed admin CSS"
    middleware = "whitenoise's middleware in the virtualenv, same gunicorn settings"
    floor = "a bare WSGI function returning the same bytes"

    def against(measure: str, figure: str, kind: str, baseline: str, what: str) -> Row:
        # The archive's figure next to a baseline's, both measured in each round.
        return Row(
            measure,
            got.get(f"{figure}/archive/{kind}", []),
            got.get(f"{figure}/{baseline}/{kind}"),
            what,
            paired=True,
        )

    rows = []
    for kind in WORKER_CLASSES:
        baselines = [
            ("whitenoise middleware", "middleware", middleware),
            ("bare WSGI floor", "floor", floor),
            *([("nginx", "nginx", "nginx, 2 workers, sendfile")] if kind == "gthread" else []),
        ]
        rows += [
            against(f"static req/s, {kind}, vs {label}", "static rps", kind, key, what)
            for label, key, what in baselines
        ]
        rows += [
            against(
                f"static p99 (ms), {kind}, vs whitenoise middleware",
                "static p99", kind, "middleware", middleware,
            ),
            against(
                f"static CPU per request (µs), {kind}, vs bare WSGI floor",
                "static cpu", kind, "floor",
                "the floor's CPU time per request (master and workers), same run",
            ),
            against(
                f"dynamic page CPU per request (µs), {kind}",
                "dynamic cpu", kind, "middleware", f"{middleware}, `/`",
            ),
            against(
                f"dynamic page req/s, {kind}",
                "dynamic rps", kind, "middleware", f"{middleware}, `/`",
            ),
        ]  # fmt: skip
    rows += [
        Row(
            f"static req/s, {load.SLOW_CLIENTS} slow clients, gthread vs sync",
            got.get("slow rps/archive/gthread", []),
            got.get("slow rps/archive/sync"),
            f"the archive with `--worker-class sync`, {css}",
        ),
        Row(
            "static req/s, gthread vs sync (keep-alive)",
            got.get("static rps/archive/gthread", []),
            got.get("static rps/archive/sync"),
            "the archive with `--worker-class sync`",
        ),
        Row(
            "peak RSS, master + workers (MB)",
            got.get("rss/archive", []),
            got.get("rss/middleware"),
            "the virtualenv's gunicorn with whitenoise's middleware",
        ),
    ]
    return [row for row in rows if row.zipapp]


# Report


def machine() -> dict[str, Any]:
    # What nproc prints: the CPUs this process may run on.
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "nproc": cpus,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
        "platform": platform.platform(),
        "load_average_at_start": round(os.getloadavg()[0], 2),
    }


def versions(ws: Workspace) -> dict[str, str | None]:
    names = ["django-zipapp", "Django", "gunicorn", "whitenoise", "shiv"]
    script = (
        "import importlib.metadata as m, json, sys\n"
        "print(json.dumps({n: m.version(n) for n in sys.argv[1:]}))"
    )
    found = output_of([ws.python, "-c", script, *names], ws.env)
    result: dict[str, str | None] = json.loads(found) if found else dict.fromkeys(names)
    result["git"] = git_revision()
    return result


def git_revision() -> str | None:
    revision = output_of(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], dict(os.environ))
    if revision is None:
        return None
    # Only tracked files count: this script's own results are untracked.
    changed = output_of(
        ["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"], dict(os.environ)
    )
    return f"{revision}+changes" if changed else revision


def cell(values: list[float] | None) -> str:
    if not values:
        return ""
    middle = statistics.median(values)
    if len(values) == 1 or min(values) == max(values):
        return f"{middle:.2f}"
    return f"{middle:.2f} ({min(values):.2f}-{max(values):.2f})"


def render(rows: list[Row], info: dict[str, Any], runs: int) -> str:
    host, soft = info["machine"], info["versions"]
    lines = [
        f"Machine: nproc {host['nproc']}, {host['implementation']} {host['python']} "
        f"({host['executable']}), {host['platform']}, "
        f"load average {host['load_average_at_start']} at start.",
        f"Software: django-zipapp {soft.get('django-zipapp')} (git {soft.get('git')}), "
        f"Django {soft.get('Django')}, gunicorn {soft.get('gunicorn')}, "
        f"whitenoise {soft.get('whitenoise')}, shiv {soft.get('shiv')}; --workers {WORKERS}.",
        "",
        "| measure | django-zipapp | baseline | ratio |",
        "| --- | ---: | ---: | ---: |",
    ]
    for row in rows:
        ratio = row.ratio()
        shown = "" if ratio is None else f"{ratio:.2f}"
        lines.append(f"| {row.measure} | {cell(row.zipapp)} | {cell(row.baseline)} | {shown} |")
    lines += [
        "",
        f"Median of {runs} runs, (min-max) when they differ, both sides measured in this "
        "run. ratio: the median of the runs' django-zipapp / baseline where each run "
        "measured both back to back (the order alternating from run to run), else "
        "django-zipapp median / baseline median. For requests per second above 1 is "
        "faster; for every other row, below 1 is smaller or faster.",
        "",
        "Baselines:",
        *(f"- {row.measure}: {row.baseline_is}" for row in rows if row.baseline_is),
    ]
    return "\n".join(lines) + "\n"


def as_json(rows: list[Row], info: dict[str, Any], runs: int) -> dict[str, Any]:
    def summary(values: list[float] | None) -> dict[str, Any] | None:
        if not values:
            return None
        return {"median": statistics.median(values), "samples": values}

    return {
        **info,
        "runs": runs,
        "workers": WORKERS,
        "rows": [
            {
                "measure": row.measure,
                "django_zipapp": summary(row.zipapp),
                "baseline": summary(row.baseline),
                "baseline_is": row.baseline_is or None,
                "ratio": row.ratio(),
            }
            for row in rows
        ],
    }


def write_outputs(text: str, data: dict[str, Any], args: argparse.Namespace) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = json.dumps(data, indent=2) + "\n"
    for path in [RESULTS / "latest.json", *([args.json] if args.json else [])]:
        path.write_text(payload, encoding="utf-8")
    for path in [RESULTS / "latest.md", *([args.markdown] if args.markdown else [])]:
        path.write_text(text, encoding="utf-8")


# Main


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be 1 or more")
    return value


def rows_alone(
    argv: list[str],
    what: str,
    measure: Callable[..., None],
    rows: Callable[[Samples, type[Row]], list[Row]],
    *,
    build_first: bool,
) -> int:
    """One measurement's rows alone, for its own module run as a script (media, asgi)."""
    parser = argparse.ArgumentParser(description=f"Only the {what} rows of bench/run.py.")
    parser.add_argument("--runs", type=positive_int, default=3, metavar="N")
    parser.add_argument("--seconds", type=float, default=LOAD_SECONDS, metavar="S")
    parser.add_argument("--venv", type=Path, metavar="PATH")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix=f"django-zipapp-bench-{what.lower()}-"))
    try:
        ws = make_workspace(root, args.venv.resolve() if args.venv else None)
        prepare_venv(ws)
        if build_first:
            build(ws, "build")
        samples = Samples()
        measure(ws, args.runs, args.seconds, samples, root / "shiv-warm", sys.modules[__name__])
        info = {"machine": machine(), "versions": versions(ws)}
        print(render(rows(samples, Row), info, args.runs), end="")
        print({key: [round(v) for v in values] for key, values in samples.load.items()})
        return 0
    except StepError as exc:
        print(f"error: {exc.step}: {exc.message}\n  {exc.tail}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(root, ignore_errors=True)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time building and starting the example project as a django-zipapp "
        "archive against the same project in a virtualenv, and print a Markdown table.",
    )
    parser.add_argument(
        "--runs",
        type=positive_int,
        default=3,
        metavar="N",
        help="measured runs of each kind; medians are reported (default 3)",
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=LOAD_SECONDS,
        metavar="S",
        help=f"length of each wrk measurement (default {LOAD_SECONDS:g})",
    )
    parser.add_argument(
        "--venv",
        type=Path,
        metavar="PATH",
        help="the virtualenv to build and serve with: made there if missing, "
        "reused if present (default: a new one in the temporary directory)",
    )
    parser.add_argument(
        "--json", type=Path, metavar="PATH", help="also write the results as JSON here"
    )
    parser.add_argument("--markdown", type=Path, metavar="PATH", help="also write the table here")
    parser.add_argument(
        "--deploys",
        type=lambda text: [name for name in text.split(",") if name],
        default=["example"],
        metavar="SITES",
        help="sites for the deploy rows, comma-separated: example, wagtail (default "
        "example; an empty value leaves them out)",
    )
    parser.add_argument("--only-deploys", action="store_true", help="measure the deploy rows only")
    parser.add_argument(
        "--only-scan", action="store_true", help="measure the secret scan rows only"
    )
    parser.add_argument(
        "--only-warm",
        action="store_true",
        help="measure the warm-start rows only (bench/warm.py), for the --deploys sites",
    )
    parser.add_argument(
        "--compare-boot",
        metavar="REV",
        help="warm-start and deploy rows: also run each archive with the start-up code of "
        "this git revision in place of its own, as their baseline",
    )
    parser.add_argument(
        "--only-builds",
        action="store_true",
        help="measure the build rows only: builds, rebuilds, the verification step, the "
        "SBOM and the signature, the secret scan and the front end's size",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the temporary directory (logs, archive, databases)",
    )
    return parser.parse_args(argv)


def benchmark(
    ws: Workspace, runs: int, seconds: float, args: argparse.Namespace
) -> tuple[list[Row], dict[str, Any]]:
    info: dict[str, Any] = {"machine": machine()}
    begun = time.perf_counter()
    prepare_venv(ws)
    info["versions"] = versions(ws)
    samples = Samples()
    scan.measure_with(ws.python, runs, samples.add)
    if args.only_builds:
        measure_builds(ws, runs, samples)
    elif not (args.only_deploys or args.only_scan or args.only_warm):
        measure_builds(ws, runs, samples)
        measure_starts(ws, runs, samples)
        bundle.measure(ws, runs, samples.add, run=run, first_200=time_to_first_200,
                       server_options=server_options)  # fmt: skip
        measure_load(ws, runs, seconds, samples, ws.root / "shiv-warm")
        media.measure(ws, runs, seconds, samples, ws.root / "shiv-warm", sys.modules[__name__])
        asgi.measure(ws, runs, seconds, samples, ws.root / "shiv-warm", sys.modules[__name__])
    if args.only_scan:
        rows = scan.rows(samples.load, Row)
    elif args.only_builds:
        rows = build_rows(samples)
    elif args.only_deploys:
        rows = deploys.measure(ws, runs, args.deploys, sys.modules[__name__], args.compare_boot)
    elif args.only_warm:
        rows = warm.measure(ws, runs, args.deploys, sys.modules[__name__], args.compare_boot)
    else:
        rows = table(samples) + media.rows(samples, Row) + asgi.rows(samples, Row)
        rows += deploys.measure(ws, runs, args.deploys, sys.modules[__name__], args.compare_boot)
        rows += warm.measure(ws, runs, args.deploys, sys.modules[__name__], args.compare_boot)
    info["load_samples"] = {
        key: [value for value in values if value == value]  # no NaN in JSON
        for key, values in samples.load.items()
    }
    info["duration_s"] = round(time.perf_counter() - begun, 1)
    info["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    return rows, info


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if not (EXAMPLE / "manage.py").is_file():
        print(f"error: setup: {EXAMPLE / 'manage.py'} not found", file=sys.stderr)
        return 1
    root = Path(tempfile.mkdtemp(prefix="django-zipapp-bench-"))
    try:
        ws = make_workspace(root, args.venv.resolve() if args.venv else None)
        rows, info = benchmark(ws, args.runs, args.seconds, args)
        text = render(rows, info, args.runs)
        print(text, end="")
        write_outputs(text, as_json(rows, info, args.runs), args)
        note(f"wrote {RESULTS}/latest.md and latest.json; {info['duration_s']} s in all")
        return 0
    except StepError as exc:
        print(f"error: {exc.step}: {exc.message}", file=sys.stderr)
        if exc.tail:
            print("  " + exc.tail.replace("\n", "\n  "), file=sys.stderr)
        if not args.keep:
            print("  (run again with --keep to keep the logs)", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    finally:
        if args.keep:
            note(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
