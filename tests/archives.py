"""Building and running real archives from the tests: one helper for each step.

A project is built with its own `manage.py buildpyz` in a subprocess; the archive runs as
a separate process with its own SHIV_ROOT and STATE_DIRECTORY, without HOME.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from django_zipapp.boot import BOOT_MODULE
from django_zipapp.builder.bundle import write_bundle
from django_zipapp.builder.interpreter import Interpreter, prepare_interpreter

EXAMPLE = Path(__file__).resolve().parent.parent / "example_project"
# Projects not shaped like startproject (see tests/test_layouts.py).
PROJECTS = Path(__file__).resolve().parent / "projects"
# For tests/projects/compressed: DEBUG from the environment; COMPRESS_ENABLED left to
# its default, `not DEBUG` (see tests/test_generators.py).
DEBUG_FROM_ENVIRONMENT = """
DEBUG = os.environ.get("DEBUG") == "1"
del COMPRESS_ENABLED
"""
SECRET_KEY = "e2e-" + "k3y-w1th-3n0ugh-r4nd0mn3ss-f0r-ch3ck-d3pl0y-" * 2
# A key written in one of the session archive's files (conftest.py): serve refuses it.
PUBLISHED_KEY = "upstream-" + "d3f4ult-k3y-fr0m-th3-publ1c-r3p0s1t0ry-" * 2
# WHITENOISE_ROOT's files in the session archive: a 1x1 icon (ICO header, one entry).
ROOT_FILES = {
    "favicon.ico": bytes.fromhex("000001000100010100000100200030000000160000002800000001000000")
    + bytes(34),
    "robots.txt": b"User-agent: *\nDisallow: /admin/\n",
}
# Symlinks among the static source files that lead out of their static directory: the
# build must not follow them into the archive.
PLANTED_LINKS = {
    "notes/static/notes/escape.css": "../../../example/settings.py",
    "notes/static/notes/example": "../../../example",
    "notes/static/notes/passwd": "/etc/passwd",
}


@dataclass(frozen=True)
class Built:
    archive: Path
    build_output: str
    work: Path


def copy_example(destination: Path) -> Path:
    """A copy of example_project without what a developer's checkout may have generated."""
    shutil.copytree(
        EXAMPLE,
        destination,
        ignore=shutil.ignore_patterns("__pycache__", "var", "staticfiles", "*.pyz"),
    )
    return destination


def left_packed(archive: Path) -> set[str]:
    """The files an extraction of the archive leaves in it, as the build recorded them."""
    with zipfile.ZipFile(archive) as zf:
        return set(zf.read("django_zipapp.packed").decode().splitlines())


def build_project(
    work: Path,
    shape: str,
    *,
    settings: str = "",
    env: dict[str, str] | None = None,
    verify: bool = False,
    checkout: bool = False,
) -> Built:
    """Build tests/projects/SHAPE in work/project (settings: lines added to its settings
    module), deployed alone into work/srv with an empty state directory beside it.
    ``checkout``: the project is a git checkout, its files committed (its .gitignore holds)."""
    project = work / "project"
    shutil.copytree(PROJECTS / shape, project, ignore=shutil.ignore_patterns("__pycache__"))
    if settings:
        with (project / shape / "settings.py").open("a") as module:
            module.write(settings)
    if checkout:
        commit_all(project)
    (work / "build").mkdir()
    # Production settings read SECRET_KEY from the host; the build runs without one.
    build_env = {"SECRET_KEY": "", **(env or {})}
    result = build_in(project, "-o", str(work / "build" / "site.pyz"), env=build_env, verify=verify)
    assert result.returncode == 0, result.stdout + result.stderr
    # Deployed alone into another folder, and run from yet another working directory.
    (work / "srv").mkdir()
    shutil.copy2(work / "build" / "site.pyz", work / "srv" / "site.pyz")
    (work / "state").mkdir()  # systemd's StateDirectory= creates it
    return Built(work / "srv" / "site.pyz", result.stdout, work)


def commit_all(project: Path) -> None:
    identity = ["-c", "user.name=t", "-c", "user.email=t@example.com"]
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "site"]):
        subprocess.run(["git", *identity, *command], cwd=project, check=True, capture_output=True)


def run_archive(
    built: Built,
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    wrapper: Sequence[str] = (),
) -> subprocess.CompletedProcess[str]:
    """Run the archive (through wrapper, a command such as setpriv, when given)."""
    return subprocess.run(
        [*wrapper, str(built.archive), *args],
        cwd=cwd or built.work,
        env=env if env is not None else site_env(built),
        capture_output=True,
        text=True,
        timeout=300,
    )


def site_env(built: Built, **extra: str) -> dict[str, str]:
    """A service's environment: no HOME, its own cache and state directories."""
    environment = {
        "PATH": os.environ["PATH"],
        "LANG": "C.UTF-8",
        "SHIV_ROOT": str(built.work / "cache"),
        "STATE_DIRECTORY": str(built.work / "state"),
        "SECRET_KEY": SECRET_KEY,
    }
    # pyenv's shims find the interpreter through these.
    for name in ("PYENV_ROOT", "PYENV_VERSION"):
        if name in os.environ:
            environment[name] = os.environ[name]
    environment.update(extra)
    return environment


# Kept between test runs, as a developer's is: its entries are keyed on what pip resolves.
DEPENDENCY_CACHE = Path(tempfile.gettempdir(), f"django-zipapp-test-dependencies-{os.getuid()}")
# pytest numbers its folders from 0 again once a passing run has removed its own, so a
# project's path, and the constraints file beside it that names its requirements for
# the builder (see build_env), come back from run to run. This line in that file keeps
# the builder's record of what an earlier run's requirements resolved to (kept in
# DEPENDENCY_CACHE) from turning a run's first build of a project into a rebuild.
TEST_RUN = f"test run {uuid.uuid4().hex}"


def build_in(
    project: Path, *options: str, env: dict[str, str] | None = None, verify: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run the project's own `manage.py buildpyz` in a subprocess, as a developer would.

    Without the verification step unless asked: it starts each archive three times (half
    a minute on a loaded machine), and the tests start the archives they build anyway.
    The session's end-to-end build (conftest.py) and tests/test_verify.py keep it.
    """
    skip = [] if verify else ["--no-verify"]
    cache = ["--cache-dir", str(DEPENDENCY_CACHE)]
    return subprocess.run(
        [sys.executable, "manage.py", "buildpyz", *cache, *skip, *options],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=900,
        env={**build_env(project.parent), **(env or {})},
    )


def build_env(work: Path) -> dict[str, str]:
    import django

    # The test run's own DJANGO_SETTINGS_MODULE must not leak into the project's build.
    environment = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    # The archive gets the Django this test environment runs, so that each environment
    # of the test matrix tests its own Django version inside the archive too.
    constraints = work / "constraints.txt"
    constraints.write_text(f"# {TEST_RUN}\nDjango=={django.get_version()}\n")
    others = environment.get("PIP_CONSTRAINT", "")
    environment["PIP_CONSTRAINT"] = f"{others} {constraints}".strip()
    # The build's scratch folders (pip's, the archive's staging) on the tmpfs of the
    # test run's temporary folders when it has one (tox.ini): written and removed by
    # every build, they cost seconds on a slow disk.
    scratch = os.environ.get("DJANGO_ZIPAPP_TEST_TMPDIR")
    if scratch:
        environment["TMPDIR"] = scratch
    return {**environment, "PYTHONWARNINGS": "error"}


def make_sqlite(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path)
    connection.execute("create table private (secret text)")
    connection.commit()
    connection.close()


@dataclass
class Server:
    base: str
    process: subprocess.Popen[bytes]
    log: Path


@contextmanager
def running_server(
    archive: Path,
    environment: dict[str, str],
    log: Path,
    workers: int = 2,
    wrapper: tuple[str, ...] = (),
    options: tuple[str, ...] = (),
) -> Iterator[Server]:
    """`archive serve` on a free port, answering; stopped with SIGTERM afterwards.

    ``wrapper``: a command that execs the rest of its arguments (unshare, setpriv...);
    ``options``: more options of serve.
    """
    port = free_port()
    serve = [str(archive), "serve", "--bind", f"127.0.0.1:{port}", "--workers", str(workers)]
    serve += options
    with log.open("wb") as output:
        process = subprocess.Popen(
            [*wrapper, *serve],
            cwd="/",
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    running = Server(f"http://127.0.0.1:{port}", process, log)
    try:
        wait_for(running)
        _wait_for_workers(running, workers)
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_for_new_temporary(
    cache: Path, before: set[str], process: subprocess.Popen[bytes], timeout: float = 60
) -> None:
    """Until a temporary folder not in ``before`` is in cache, or the process has ended.

    An extraction takes a few tenths of a second: a test that kills one in the middle
    waits for its temporary folder rather than guessing a delay.
    """
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        if cache.exists() and any(".tmp-" in name for name in set(os.listdir(cache)) - before):
            return
        time.sleep(0.001)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for(server: Server, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(
                f"serve exited with {server.process.returncode}:\n{server.log.read_text()}"
            )
        try:
            get(server.base + "/")
            return
        except urllib.error.HTTPError as error:  # answering, even if with an error
            error.close()
            return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.05)
    raise AssertionError(f"{server.base} did not answer within {timeout} s")


def _wait_for_workers(server: Server, workers: int, timeout: float = 60) -> None:
    """Every worker has booted: a SIGTERM that reaches a worker still forking is lost
    (it runs the master's inherited handler), and gunicorn then waits its whole
    graceful timeout before it kills that worker."""
    deadline = time.monotonic() + timeout
    while server.log.read_text().count("Booting worker with pid") < workers:
        if time.monotonic() > deadline:
            raise AssertionError(f"not all {workers} workers booted:\n{server.log.read_text()}")
        time.sleep(0.05)
    time.sleep(0.5)  # from that log line to the worker's own signal handlers


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, dict(response.headers), response.read()


def bundle_interpreter(staging: Path) -> Interpreter:
    """The Python running the tests, staged to bundle as buildpyz --bundle-python does."""
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    return prepare_interpreter("", staging, python=python, built_at=0)


def bundle_of(plain: Built, interpreter: Interpreter, work: Path) -> Built:
    """A plain archive already built, with the interpreter bundled (work/srv/site): what
    buildpyz --bundle-python writes, without building the site again."""
    build_id = json.loads(run_archive(plain, "info", "--json").stdout)["build_id"]
    (work / "srv").mkdir(parents=True)
    archive = work / "srv" / "site"
    write_bundle(plain.archive, interpreter, archive, build_id=build_id, boot_module=BOOT_MODULE)
    return Built(archive, "", work)
