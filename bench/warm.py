"""Warm-start rows: a warm start against the site's virtualenv, and what it asks of the kernel.

For each site of ``--deploys`` (the example project; the Wagtail site that deploys.py
generates, with Wagtail's full dependency set; ``wagtail-large``, that site with
plotly, pandas, openpyxl, django-storages[s3], celery[redis] and sentry-sdk added, for
more files than its start imports), in one run:

- start to first 200 of the archive, its extraction already there, against gunicorn
  from the site's own virtualenv (the same interpreter, settings, database), the order
  alternating from round to round;
- the files a cold start unpacked (the completion marker's count);
- the system calls of a warm ``site.pyz check``, stat-family and in all, counted by
  ``strace -f -c`` (rows left out without strace);
- with ``--compare-boot REV``: the same archive with the start-up code of git revision
  REV in place of its own (``django_zipapp/boot.py`` or the ``django_zipapp/boot/``
  package there), in a SHIV_ROOT of its own: its warm start and its system calls, the
  baseline of the current code's.

Called from run.py (``--only-warm``, or as part of the whole run).
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from boots import with_boot_of
from deploys import Site

# A site with more files than its start imports: the Wagtail site with what a site
# that charts and exports data, keeps its media on S3, runs tasks and reports errors
# adds (plotly, pandas with numpy, openpyxl, django-storages with boto3 and botocore's
# service models, celery with redis, sentry-sdk), on both sides: over 20,000 files
# unpacked. A warm start whose cost does not grow with the files starts it about as
# fast as the Wagtail site.
EXTRA_REQUIREMENTS = {
    "wagtail-large": [
        "plotly",
        "pandas",
        "openpyxl",
        "django-storages[s3]",
        "celery[redis]",
        "sentry-sdk",
    ]
}
# strace's %stat class: the calls that look a path up and return its inode.
STAT_CALLS = {"stat", "stat64", "lstat", "lstat64", "newfstatat", "fstatat64", "statx"}


def measure(ws: Any, runs: int, sites: list[str], bench: Any, compare: str | None) -> list[Any]:
    """The rows for each site; bench: run.py, whose helpers this module uses."""
    rows: list[Any] = []
    for name in sites:
        rows += Warm(bench, ws, name, compare).measure(runs)
    return rows


class Warm:
    def __init__(self, bench: Any, ws: Any, name: str, compare: str | None) -> None:
        self.bench = bench
        self.ws = ws
        self.name = name
        self.compare = compare
        # A folder apart from deploys.py's for the same site; make() picks it by name.
        self.site = Site(bench, ws, f"{name}-warm")
        self.site.name = name.removesuffix("-large")
        self.got: dict[str, list[float]] = {}

    def add(self, key: str, value: float) -> None:
        self.got.setdefault(key, []).append(value)

    def measure(self, runs: int) -> list[Any]:
        site, bench = self.site, self.bench
        project = site.make()
        site.name = self.name
        extra = EXTRA_REQUIREMENTS.get(self.name, [])
        if extra:
            pip = [site.python, "-m", "pip", "install", "--no-input", *extra]
            bench.run(f"{self.name}: install {' '.join(extra)}", pip, ws=self.ws)
            with (project / "requirements.txt").open("a") as requirements:
                requirements.write("".join(f"{name}\n" for name in extra))
        wagtail = self.name.startswith("wagtail")
        state = site.root / "state"
        state.mkdir()
        site.env["STATE_DIR"] = str(state)
        if wagtail:
            site.env["DJANGO_SETTINGS_MODULE"] = "mysite.settings.production"
        archive = site.root / "dist" / "site.pyz"
        bench.note(f"{self.name}: building the archive")
        site.build(project, archive, f"{self.name}: build", site.root / "cache")
        warm_root = site.root / "warm-root"
        site.archive_command(archive, warm_root, "migrate", "--noinput")
        manage = [site.python, "manage.py", "collectstatic", "--noinput"]
        bench.run(f"{self.name}: collectstatic", manage, ws=self.ws, cwd=project, env=site.env)
        sides = {"warm": (archive, warm_root)}
        if self.compare:
            old = with_boot_of(archive, self.compare, site.root / "dist" / "old-boot.pyz")
            sides["old"] = (old, site.root / "old-root")
            site.archive_command(old, sides["old"][1], "prepare")
        marker = next(warm_root.glob(f"{archive.name}_*")) / ".django-zipapp-complete"
        self.add("files", float(json.loads(marker.read_text())["files"]))
        self.venv_start(project, "warm-up")  # both sides' bytecode written, caches filled
        for key, (path, root) in sides.items():
            site.start(path, root, f"{self.name}: {key} warm-up start")
        for index in range(1, runs + 1):
            order = list(sides) if index % 2 else list(sides)[::-1]
            if index % 2 == 0:
                self.add("venv", self.venv_start(project, str(index)))
            for key in order:
                path, root = sides[key]
                self.add(key, site.start(path, root, f"{self.name}: {key} warm start {index}"))
            if index % 2:
                self.add("venv", self.venv_start(project, str(index)))
            bench.note(
                f"{self.name}: warm {self.got['warm'][-1]:.2f} s, "
                f"virtualenv {self.got['venv'][-1]:.2f} s"
                + (f", previous start-up code {self.got['old'][-1]:.2f} s" if self.compare else "")
            )
        for key, (path, root) in sides.items():
            counted = system_calls(site, path, root)
            if counted is not None:
                self.add(f"{key} stat calls", float(counted[0]))
                self.add(f"{key} calls", float(counted[1]))
        return self.rows()

    def venv_start(self, project: Path, index: str) -> float:
        site = self.site
        gunicorn = site.python.parent / "gunicorn"
        module = "mysite.wsgi" if self.name.startswith("wagtail") else "example.wsgi"
        return float(
            self.bench.time_to_first_200(
                f"{self.name}: virtualenv start {index}",
                lambda bind: [gunicorn, f"{module}:application", "--bind", bind, "--workers", "2"],
                ws=self.ws,
                cwd=project,
                env={**self.ws.server_env, **site.env},
            )
        )

    def rows(self) -> list[Any]:
        row, name, got = self.bench.Row, self.name, self.got
        old = f"the same archive with the start-up code of {self.compare}"
        rows = [
            row(f"{name}: files unpacked by a cold start", got["files"]),
            row(
                f"{name}: start to first 200, warm (s)",
                got["warm"],
                got["venv"],
                "gunicorn from the site's virtualenv, same settings and database",
                paired=True,
            ),
        ]
        if self.compare:
            rows.append(
                row(
                    f"{name}: warm start, against earlier start-up code (s)",
                    got["warm"],
                    got["old"],
                    old,
                    paired=True,
                )
            )
        for key, what in (("stat calls", "stat-family system calls"), ("calls", "system calls")):
            if f"warm {key}" in got:
                rows.append(
                    row(
                        f"{name}: {what} of a warm `check`",
                        got[f"warm {key}"],
                        got.get(f"old {key}"),
                        old if self.compare else "",
                    )
                )
        return rows


def system_calls(site: Site, archive: Path, shiv_root: Path) -> tuple[int, int] | None:
    """The stat-family calls and all calls of a warm `check` and its children, or None."""
    with tempfile.NamedTemporaryFile("r", suffix=".strace") as output:
        command = ["strace", "-f", "-c", "-o", output.name, str(site.python), str(archive), "check"]
        env = {**site.ws.server_env, **site.env, "SHIV_ROOT": str(shiv_root)}
        try:
            done = subprocess.run(command, env=env, capture_output=True, timeout=300)
        except FileNotFoundError:
            return None  # no strace here
        if done.returncode != 0:
            raise site.bench.StepError(f"{site.name}: strace check", done.stderr.decode()[-2000:])
        return count_calls(output.read())


def count_calls(summary: str) -> tuple[int, int]:
    """From strace -c's table: calls of the stat family, and the total."""
    stat_calls = total = 0
    for line in summary.splitlines():
        fields = line.split()
        if len(fields) < 5 or not fields[3].isdigit():
            continue
        name, calls = fields[-1], int(fields[3])
        if name == "total":
            total = calls
        elif name in STAT_CALLS:
            stat_calls += calls
    return stat_calls, total
