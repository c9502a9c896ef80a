"""Units for the site's workers and scheduled jobs: written beside the web unit, accepted
by systemd and scored like it."""

from __future__ import annotations

from pathlib import Path

import pytest

from django_zipapp.processes import declared_processes
from django_zipapp.runtime.process_units import process_units
from tests.archives import Built
from tests.test_systemd import exposure, needs_analyze, verify, write_units

pytestmark = pytest.mark.e2e

WORKERS = {
    "celery": {"command": "run celery -A example worker --loglevel INFO", "stop_timeout": 600},
    "tasks": ["db_worker", "--queue-name", "100%"],
}


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def test_the_examples_job_gets_a_service_and_a_timer(built: Built, tmp_path: Path) -> None:
    write_units(built, tmp_path / "units", "--env-file", "/etc/site.env")
    units = tmp_path / "units"
    assert sorted(path.name for path in units.iterdir()) == [
        "site-clearsessions.service",
        "site-clearsessions.timer",
        "site.service",
    ]
    job = lines(units / "site-clearsessions.service")
    assert job[:2] == ["[Unit]", "Description=Remove expired sessions"]
    (start,) = [line for line in job if line.startswith("ExecStart=")]
    assert start.endswith(f" {built.archive} clearsessions")
    # The web unit's user, configuration and directories; no restart loop, no [Install].
    for line in ("User=site", "Type=oneshot", "EnvironmentFile=/etc/site.env",
                 "StateDirectory=site", "CacheDirectory=site", "DynamicUser=yes"):  # fmt: skip
        assert line in job
    assert not [line for line in job if line.startswith(("Restart", "[Install]", "ExecReload"))]
    assert lines(units / "site-clearsessions.timer") == [
        "[Unit]",
        "Description=Remove expired sessions (timer)",
        "",
        "[Timer]",
        "OnCalendar=daily",
        "Persistent=true",
        "RandomizedDelaySec=1h",
        "",
        "[Install]",
        "WantedBy=timers.target",
    ]


@needs_analyze
def test_job_units_are_valid_and_score_like_the_web_unit(built: Built, tmp_path: Path) -> None:
    units = tmp_path / "units"
    write_units(built, units)
    web, job = units / "site.service", units / "site-clearsessions.service"
    verify(web, job, units / "site-clearsessions.timer")
    assert exposure(job) <= exposure(web)


@needs_analyze
def test_worker_units_are_valid_and_score_like_the_web_unit(built: Built, tmp_path: Path) -> None:
    units = tmp_path / "units"
    write_units(built, units, "--socket", "--no-network")
    web = (units / "site.service").read_text()
    processes = declared_processes(WORKERS, {})
    for filename, text in process_units(web, "site", processes).items():
        (units / filename).write_text(text)
    celery, tasks = units / "site-celery.service", units / "site-tasks.service"
    verify(units / "site.service", units / "site.socket", celery, tasks)
    assert exposure(celery) <= exposure(units / "site.service")
    assert {"User=site", "Type=exec", "KillMode=mixed", "TimeoutStopSec=600",
            "PrivateNetwork=yes", "RuntimeDirectory=site-celery"} <= set(lines(celery))  # fmt: skip
    # Served from systemd's socket is the web unit's business only.
    assert not [line for line in lines(celery) if "socket" in line or "serve" in line]
    # Declared words are literal: no systemd specifier expansion.
    (start,) = [line for line in lines(tasks) if line.startswith("ExecStart=")]
    assert start.endswith(" db_worker --queue-name 100%%")
    assert "TimeoutStopSec=300" in lines(tasks)
