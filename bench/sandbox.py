#!/usr/bin/env python3
"""Measure the archive under a sandboxed service's conditions, and print the figures.

From the repository root, with an interpreter that has django-zipapp installed:

    python bench/sandbox.py [--starts 16] [--kills 20] [--builds 5]

Standard library only. Builds example_project (--builds times, each with a different
home page), then reports: concurrent cold starts and how many extractions they made;
first starts killed at random moments and whether the next start succeeds; how many
extractions the cache holds after each build is started in turn; a serve under a
read-only root without HOME; and `systemd-analyze security` of the generated units.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "example_project"
SECRET_KEY = "bench-" + "s4ndb0x-k3y-w1th-3n0ugh-3ntr0py-" * 3
READ_ONLY_ROOT = """\
set -e
while [ "$1" != -- ]; do mount --bind "$1" "$1"; shift; done
shift
mount -o remount,bind,ro /
exec "$@"
"""


def site_env(work: Path, **extra: str) -> dict[str, str]:
    environment = {
        "PATH": os.environ["PATH"],
        "LANG": "C.UTF-8",
        "SHIV_ROOT": str(work / "cache"),
        "STATE_DIRECTORY": str(work / "state"),
        "SECRET_KEY": SECRET_KEY,
    }
    for name in ("PYENV_ROOT", "PYENV_VERSION"):
        if name in os.environ:
            environment[name] = os.environ[name]
    return {**environment, **extra}


def fresh(work: Path) -> Path:
    shutil.rmtree(work, ignore_errors=True)
    for name in ("cache", "state", "tmp"):
        (work / name).mkdir(parents=True)
    return work


def build(project: Path, output: Path, label: str) -> Path:
    template = project / "notes" / "templates" / "notes" / "home.html"
    template.write_text(re.sub(r"<h1>.*</h1>", f"<h1>Notes {label}</h1>", template.read_text()))
    subprocess.run(
        [sys.executable, "manage.py", "buildpyz", "-o", str(output)],
        cwd=project, check=True, capture_output=True, timeout=900,
    )  # fmt: skip
    return output


def extractions(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir() if p.name.startswith("site.pyz_"))


def concurrent_starts(archive: Path, work: Path, count: int) -> None:
    fresh(work)
    seen: set[str] = set()
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.005):
            seen.update(n for n in os.listdir(work / "cache") if ".tmp-" in n)

    watcher = threading.Thread(target=watch)
    watcher.start()
    starts = [
        subprocess.Popen([str(archive), "check"], env=site_env(work),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(count)
    ]  # fmt: skip
    succeeded = sum(start.wait(timeout=600) == 0 for start in starts)
    done.set()
    watcher.join()
    print(f"{count} concurrent cold starts (`site.pyz check`, empty cache): {succeeded} "
          f"succeeded, {len(seen)} extraction(s), {len(extractions(work / 'cache'))} in the "
          "cache")  # fmt: skip


def killed_starts(archive: Path, work: Path, count: int) -> None:
    fresh(work)
    began = time.monotonic()
    subprocess.run([str(archive), "check"], env=site_env(work), check=True, capture_output=True)
    cold = time.monotonic() - began
    succeeded = interrupted = 0
    for _ in range(count):
        fresh(work)
        start = subprocess.Popen([str(archive), "check"], env=site_env(work),
                                 start_new_session=True, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)  # fmt: skip
        time.sleep(random.uniform(0, cold))
        os.killpg(start.pid, signal.SIGKILL)
        start.wait()
        interrupted += any(".tmp-" in n for n in os.listdir(work / "cache"))
        later = subprocess.run([str(archive), "check"], env=site_env(work), capture_output=True)
        succeeded += later.returncode == 0
    print(f"{count} first starts SIGKILLed at random moments within a cold start ({cold:.1f} s): "
          f"{interrupted} killed mid-extraction, {succeeded} later starts succeeded")  # fmt: skip


def pruned_builds(project: Path, work: Path, count: int) -> None:
    fresh(work)
    (work / "srv").mkdir()
    archive = work / "srv" / "site.pyz"
    counts = []
    for number in range(1, count + 1):
        build(project, work / "srv" / ".site.pyz.new", f"build {number}")
        os.replace(work / "srv" / ".site.pyz.new", archive)  # the deploy: rename into place
        subprocess.run([str(archive), "check"], env=site_env(work), check=True,
                       capture_output=True)  # fmt: skip
        counts.append(len(extractions(work / "cache")))
    print(f"{count} builds started in turn (KEEP_BUILDS default 3): extractions in the cache "
          f"after each start: {counts}")  # fmt: skip


def read_only_serve(archive: Path, work: Path) -> None:
    fresh(work)
    environment = site_env(work, TMPDIR=str(work / "tmp"))
    writable = [str(work / name) for name in ("cache", "state", "tmp")]
    wrapper = ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", READ_ONLY_ROOT,
               "sh", *writable, "--"]  # fmt: skip
    subprocess.run([*wrapper, str(archive), "migrate", "--noinput"], env=environment, cwd="/",
                   check=True, capture_output=True)  # fmt: skip
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    serve = subprocess.Popen(
        [*wrapper, str(archive), "serve", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
        env=environment, cwd="/", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    status = None
    deadline = time.monotonic() + 120
    while status is None and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
                status = response.status
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    serve.send_signal(signal.SIGTERM)
    serve.wait(timeout=60)
    print(f"serve under a read-only root (unshare --user --map-root-user --mount), HOME in "
          f"environment: {'HOME' in environment}, only cache/state/tmp writable: "
          f"GET / -> {status}")  # fmt: skip


def exposure(archive: Path, work: Path) -> None:
    fresh(work)
    runs = {"tcp": [], "nonet": ["--socket", "--no-network"]}
    for name, options in runs.items():
        environment = site_env(work)
        del environment["SECRET_KEY"]
        subprocess.run(
            [str(archive), "systemd-unit", "--name", name, "--directory", str(work), *options],
            env=environment, check=True, capture_output=True,
        )  # fmt: skip
        command = ["systemd-analyze", "security", "--offline=true", str(work / f"{name}.service")]
        result = subprocess.run(command, capture_output=True, text=True)
        print(f"$ site.pyz systemd-unit --name {name} {' '.join(options)}".rstrip())
        print(f"$ {' '.join(command)}")
        print(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--starts", type=int, default=16)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--builds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="django-zipapp-sandbox-") as folder:
        work = Path(folder)
        project = work / "project"
        ignore = shutil.ignore_patterns("__pycache__", "var", "staticfiles", "*.pyz")
        shutil.copytree(EXAMPLE, project, ignore=ignore)
        archive = build(project, work / "site.pyz", "bench")
        exposure(archive, work / "units")
        read_only_serve(archive, work / "read-only")
        concurrent_starts(archive, work / "concurrent", args.starts)
        killed_starts(archive, work / "killed", args.kills)
        pruned_builds(project, work / "pruned", args.builds)


if __name__ == "__main__":
    main()
