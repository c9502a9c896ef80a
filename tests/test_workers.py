"""Workers run from the archive: Celery with a real Redis server, django-tasks' database
worker. A view enqueues, the worker started from the same archive executes, and SIGTERM
lets the worker finish its current task before it exits.

example_project with tests/projects/workers laid over it; the project's own dependencies
(Celery, django-tasks) are installed for the build the way a developer has them.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import django
import pytest

from tests.archives import (
    DEPENDENCY_CACHE,
    SECRET_KEY,
    Built,
    build_in,
    copy_example,
    free_port,
    get,
    run_archive,
    running_server,
    site_env,
)
from tests.hosts import BootHosts, Host
from tests.redis_server import needs_redis

pytestmark = [pytest.mark.e2e, pytest.mark.heavy]

OVERLAY = Path(__file__).resolve().parent / "projects" / "workers"


def lay_over(project: Path) -> None:
    """example_project plus a Celery app, django-tasks and two workers declared."""
    for source in sorted(OVERLAY.glob("*/*.py*")):
        target = project / source.relative_to(OVERLAY)
        if source.suffix == ".append":
            # Added to the end of the project's module, as a project would edit it.
            original = target.with_suffix("")
            original.write_text(original.read_text() + source.read_text())
        else:
            shutil.copy(source, target)
    requirements = project / "requirements.txt"
    extra = (OVERLAY / "requirements-workers.txt").read_text()
    requirements.write_text(requirements.read_text() + extra)


def project_dependencies(project: Path) -> Path:
    """The project's own dependencies, installed once for building (kept between runs)."""
    wanted = (OVERLAY / "requirements-workers.txt").read_text()
    key = hashlib.sha256(f"{sys.version}\n{django.__version__}\n{wanted}".encode()).hexdigest()[:12]
    target = DEPENDENCY_CACHE / f"workers-{key}"
    if not (target / ".complete").exists():
        shutil.rmtree(target, ignore_errors=True)
        # The Django of the test environment, so that the build imports one version only.
        constraints = project.parent / "constraints-workers.txt"
        constraints.write_text(f"Django=={django.get_version()}\n")
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(target),
             "-c", str(constraints), "-r", str(OVERLAY / "requirements-workers.txt")],
            check=True,
            timeout=600,
        )  # fmt: skip
        (target / ".complete").touch()
    return target


@pytest.fixture(scope="module")
def workers_site(tmp_path_factory: pytest.TempPathFactory) -> Built:
    work = tmp_path_factory.mktemp("workers")
    project = copy_example(work / "project")
    lay_over(project)
    dependencies = project_dependencies(project)
    result = build_in(project, "-o", str(work / "site.pyz"), env={"PYTHONPATH": str(dependencies)})
    assert result.returncode == 0, result.stdout + result.stderr
    built = Built(work / "site.pyz", result.stdout, work)
    migrated = run_archive(built, "migrate", "--noinput")
    assert migrated.returncode == 0, migrated.stderr
    return built


def start_worker(built: Built, log: Path, *args: str, **env: str) -> subprocess.Popen[bytes]:
    with log.open("wb") as output:
        return subprocess.Popen(
            [str(built.archive), *args],
            cwd="/",
            env=site_env(built, **env),
            stdout=output,
            stderr=subprocess.STDOUT,
        )


def wait_for_file(path: Path, worker: subprocess.Popen[bytes], log: Path) -> None:
    for _ in range(1200):
        if path.exists():
            return
        assert worker.poll() is None, f"the worker exited:\n{log.read_text()}"
        time.sleep(0.05)
    raise AssertionError(f"{path.name} never appeared:\n{log.read_text()}")


def stop(worker: subprocess.Popen[bytes], log: Path) -> int:
    worker.send_signal(signal.SIGTERM)
    try:
        return worker.wait(timeout=120)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()
        raise AssertionError(f"the worker did not stop on SIGTERM:\n{log.read_text()}") from None


def home(base: str) -> str:
    return get(base + "/")[2].decode()


@needs_redis
def test_celery_worker_from_the_archive_runs_a_task_a_view_enqueued(
    workers_site: Built, redis_url: str, tmp_path: Path
) -> None:
    config = tmp_path / "site.yaml"
    config.write_text(f"BROKER_URL: {redis_url}\n")  # read through -C by both processes
    environment = site_env(workers_site, EXAMPLE_CONFIG=str(config))
    log = tmp_path / "celery.log"
    worker = start_worker(
        workers_site, log, "-C", str(config), "run", "celery", "-A", "example", "worker",
        "--concurrency", "1", "--loglevel", "INFO", "--without-mingle", "--without-gossip",
    )  # fmt: skip
    try:
        with running_server(workers_site.archive, environment, tmp_path / "serve.log") as server:
            status, _, task_id = get(f"{server.base}/enqueue/celery/?title=from-celery&seconds=3")
            assert status == 202
            state = workers_site.work / "state"
            wait_for_file(state / "started-from-celery", worker, log)
            # Stopped in the middle of the task: a warm shutdown lets it finish first.
            assert stop(worker, log) == 0, log.read_text()
            assert "from-celery" in home(server.base)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    output = log.read_text()
    assert f"Task notes.tasks.add_note[{task_id.decode()}] succeeded" in output, output
    assert "worker: Warm shutdown" in output, output


def test_django_tasks_database_worker_from_the_archive(workers_site: Built, tmp_path: Path) -> None:
    log = tmp_path / "db_worker.log"
    worker = start_worker(workers_site, log, "db_worker", "--interval", "0.2", "--no-startup-delay")
    try:
        with running_server(
            workers_site.archive, site_env(workers_site), tmp_path / "s.log"
        ) as server:
            status, _, _ = get(f"{server.base}/enqueue/database/?title=from-db-worker&seconds=3")
            assert status == 202
            wait_for_file(workers_site.work / "state" / "started-from-db-worker", worker, log)
            assert stop(worker, log) == 0, log.read_text()
            assert "from-db-worker" in home(server.base)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()


def test_systemd_unit_writes_a_unit_per_declared_worker(
    workers_site: Built, tmp_path: Path
) -> None:
    result = run_archive(workers_site, "systemd-unit", "--directory", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "site-celery.service",
        "site-clearsessions.service",  # example_project's scheduled job
        "site-clearsessions.timer",
        "site-tasks.service",
        "site-tick.service",
        "site-tick.timer",
        "site.service",
    ]
    celery = (tmp_path / "site-celery.service").read_text().splitlines()
    (start,) = [line for line in celery if line.startswith("ExecStart=")]
    assert start.endswith(f" {workers_site.archive} run celery -A example worker "
                          "--concurrency 2 --loglevel INFO")  # fmt: skip
    assert {"User=site", "KillMode=mixed", "TimeoutStopSec=600", "StateDirectory=site"} <= set(
        celery
    )


SITE_ENV = "/etc/site/site.env"


@needs_redis
def test_web_worker_and_timer_units_run_together_on_a_host(
    workers_site: Built, boot_hosts: BootHosts, redis_url: str, tmp_path: Path
) -> None:
    """The unit set written by the archive, on Debian 12 (its Python is the archive's)."""
    (host,) = boot_hosts(1, release="bookworm")
    host.copy_in(workers_site.archive, "/srv/site/site.pyz", mode=0o755)
    secrets = tmp_path / "site.env"
    # The host shares this machine's loopback: the Redis server of the test serves it too.
    secrets.write_text(f"SECRET_KEY={SECRET_KEY}\nBROKER_URL={redis_url}\n")
    host.copy_in(secrets, SITE_ENV, mode=0o600)
    port = free_port()
    host.run("/srv/site/site.pyz", "systemd-unit", "--python", "/usr/bin/python3.11",
             "--bind", f"127.0.0.1:{port}", "--env-file", SITE_ENV,
             "--directory", "/etc/systemd/system")  # fmt: skip
    host.run(*SANDBOXED, "/usr/bin/python3.11", "/srv/site/site.pyz", "migrate", "--noinput")
    host.systemctl("daemon-reload")
    workers = ("site-celery.service", "site-tasks.service")
    host.systemctl("start", "site.service", *workers, "site-tick.timer")
    base = f"http://127.0.0.1:{port}"
    assert get(f"{base}/enqueue/database/?title=from-host-worker")[0] == 202
    assert get(f"{base}/enqueue/celery/?title=from-host-celery")[0] == 202
    for _ in range(900):
        page = home(base)
        if all(title in page for title in ("from-host-worker", "from-host-celery", "tick")):
            break
        time.sleep(0.1)
    else:
        journals = [host.journal(unit) for unit in (*workers, "site-tick.service")]
        raise AssertionError("\n".join(journals))
    # The timer fired its job, which ran to completion as the site's user.
    assert host.systemctl("show", "-p", "Result", "site-tick.service").stdout == "Result=success\n"
    # They share one user, one extraction and one state directory (the SQLite file).
    uids = {_uid(host, unit) for unit in ("site.service", *workers)}
    assert len(uids) == 1, uids
    extractions = host.run("ls", "/var/cache/private/site").stdout.split()
    assert len([name for name in extractions if name.startswith("site.pyz_")]) == 1, extractions
    units = ("site.service", "site-tasks.service", "site-celery.service", "site-tick.service")
    scores = {unit: _exposure(host, unit) for unit in units}
    print("systemd-analyze security on the host:", scores)
    assert max(scores.values()) <= scores["site.service"], scores
    # Workers stopped by systemd (SIGTERM) exit cleanly; Celery with a warm shutdown.
    host.systemctl("stop", *workers)
    for unit in workers:
        assert host.systemctl("show", "-p", "Result", unit).stdout == "Result=success\n"
    assert "Warm shutdown" in host.journal("site-celery.service")


# A one-off command in the services' sandbox, as their user: the migrations.
SANDBOXED = ("systemd-run", "--wait", "--pipe", "--collect", "-p", "DynamicUser=yes", "-p",
             "User=site", "-p", "StateDirectory=site", "-p", "CacheDirectory=site", "-p",
             f"EnvironmentFile={SITE_ENV}")  # fmt: skip


def _exposure(host: Host, unit: str) -> float:
    result = host.run("systemd-analyze", "security", unit, check=False)
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d)", result.stdout)
    assert match is not None, result.stdout + result.stderr
    return float(match[1])


def _uid(host: Host, unit: str) -> str:
    pid = host.systemctl("show", "-p", "MainPID", "--value", unit).stdout.strip()
    return host.run("ps", "-o", "uid=", "-p", pid).stdout.strip()
