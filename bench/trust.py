"""The SBOM's and the signature's cost for bench/run.py.

Standard library only, like run.py. Every archive carries its SBOM, so the SBOM's own
share is read from each build's report line (``SBOM: N components ... in M ms``)
against the whole rebuild; ``--sbom FILE --sign KEY`` (the SBOM written beside the
archive, and a minisign signature) is timed as a rebuild against the same rebuild
without them, one right after the other in each round, both with ``--no-verify`` so
that the verification's noise stays out. The key is made with ``minisign -G -W`` (no
password: scrypt's cost belongs to the key, not to the build); without minisign, or
without the ``sign`` extra in the virtualenv, the signing row is left out.

Run alone: ``python bench/trust.py PYTHON SITE`` (a virtualenv's python with
``django-zipapp[sign]`` installed, and a copy of example_project) prints the figures.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

SBOM_LINE = re.compile(r"SBOM: (\d+) components \(CycloneDX [\d.]+\) in (\d+) ms")
PLAIN = "rebuild/no-verify"
TRUSTED = "rebuild/sbom+sign"
SBOM_MS = "sbom ms"


def sbom_ms(build_output: str) -> float | None:
    found = SBOM_LINE.search(build_output)
    return float(found[2]) if found else None


def make_key(folder: Path) -> Path | None:
    """A minisign key pair without a password in folder; None without minisign."""
    minisign = shutil.which("minisign")
    if minisign is None:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    key = folder / "minisign.key"
    if not key.exists():
        command = [minisign, "-G", "-W", "-p", str(folder / "minisign.pub"), "-s", str(key)]
        subprocess.run(command, check=True, capture_output=True, timeout=60)
    return key


def can_sign(python: Path) -> bool:
    found = subprocess.run([python, "-c", "import minisign"], capture_output=True, check=False)
    return found.returncode == 0


def measure(
    build: Callable[[str, list[str]], float], index: int, key: Path | None, work: Path
) -> dict[str, float]:
    """Seconds of a rebuild without, then with, --sbom and --sign (both --no-verify)."""
    if key is None:
        return {}
    trust = ["--sbom", str(work / "site.cdx.json"), "--sign", str(key)]
    return {
        PLAIN: build(f"rebuild {index}, --no-verify", ["--no-verify"]),
        TRUSTED: build(f"rebuild {index}, --sbom --sign", ["--no-verify", *trust]),
    }


def rows(got: dict[str, list[float]], rebuilds: list[float], row: Callable[..., Any]) -> list[Any]:
    """The table's rows; row is run.py's Row, passed in: run.py runs as a script."""
    found = []
    if got.get(SBOM_MS):
        found.append(
            row(
                "SBOM in a rebuild (ms)",
                got[SBOM_MS],
                [seconds * 1000 for seconds in rebuilds],
                "the whole rebuild",
                paired=True,
            )
        )
    if got.get(TRUSTED):
        found.append(
            row(
                "rebuild with --sbom FILE --sign KEY (s)",
                got[TRUSTED],
                got.get(PLAIN),
                "the same rebuild without them (both --no-verify)",
                paired=True,
            )
        )
    return found


def main(python: Path, site: Path) -> None:
    import os
    import time

    work = site.parent / "trust-bench"
    work.mkdir(exist_ok=True)
    key = make_key(work / "key") if can_sign(python) else None
    env = {**os.environ, "SECRET_KEY": "bench-" + "x7Rq2Lm9Zt4Wp8Kd" * 3, "DEBUG": "false"}

    def build(step: str, options: list[str]) -> float:
        started = time.perf_counter()
        done = subprocess.run(
            [python, "manage.py", "buildpyz", "-o", str(work / "site.pyz"), *options],
            cwd=site, env=env, check=True, capture_output=True, text=True, timeout=1800,
        )  # fmt: skip
        print(f"{step}: {time.perf_counter() - started:.2f} s; {sbom_ms(done.stdout)} ms SBOM")
        return time.perf_counter() - started

    build("first build", ["--no-verify"])
    print(measure(build, 1, key, work))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
