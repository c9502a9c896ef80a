"""What the build packs, and what its secret scan costs, for bench/run.py.

Standard library only, like run.py.

- The secret scan's milliseconds, read from each rebuild's own report line, against
  the whole rebuild.
- The size of an archive of a site with a real front end (npm's bootstrap and
  fontawesome-free in a STATICFILES_DIRS folder, as a site vendors them): built as it
  is now, against the same build with the source folder packed too (`--include`), which
  is what every build did before the sources were left out. Needs npm; without it the
  row is left out.

Run alone: `python bench/packing.py PYTHON SITE` (a virtualenv's python with
django-zipapp installed, and a copy of example_project) prints both figures.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

SCANNED = re.compile(r"Scanned (\d+) project files for secrets in (\d+) ms")
FRONT_END = ("bootstrap@5.3.3", "@fortawesome/fontawesome-free@6.5.2")
MB = 1_000_000


def scan_ms(build_output: str) -> float | None:
    """The secret scan's milliseconds in a build's output, when it reports them."""
    found = SCANNED.search(build_output)
    return float(found[2]) if found else None


def vendor_front_end(site: Path, work: Path) -> bool:
    """Put real front-end packages into a STATICFILES_DIRS folder of site; False without npm."""
    npm = shutil.which("npm")
    if npm is None:
        return False
    downloads = work / "npm"
    downloads.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [npm, "install", "--no-save", "--no-audit", "--no-fund", "--prefix", str(downloads),
         *FRONT_END],
        check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    vendor = site / "assets" / "vendor"
    for package in ("bootstrap", "@fortawesome/fontawesome-free"):
        shutil.copytree(downloads / "node_modules" / package, vendor / package.split("/")[-1])
    settings = site / "example" / "settings.py"
    settings.write_text(settings.read_text() + '\nSTATICFILES_DIRS = [BASE_DIR / "assets"]\n')
    return True


def front_end_sizes(
    python: str, site: Path, work: Path, env: dict[str, str]
) -> tuple[float, float]:
    """(MB now, MB with the static sources packed as well) of the site with a front end."""
    sizes = []
    for name, extra in (("now", []), ("sources-packed", ["--include", "assets"])):
        output = work / f"front-end-{name}.pyz"
        subprocess.run(
            [python, "manage.py", "buildpyz", "-o", str(output), *extra],
            cwd=site, env=env, check=True, capture_output=True, timeout=1800,
        )  # fmt: skip
        sizes.append(output.stat().st_size / MB)
    return sizes[0], sizes[1]


def main(python: str, site: Path) -> None:
    import os

    work = site.parent / "packing-bench"
    work.mkdir(exist_ok=True)
    env = {**os.environ, "SECRET_KEY": "bench-" + "x7Rq2Lm9Zt4Wp8Kd" * 3, "DEBUG": "false"}
    build = subprocess.run(
        [python, "manage.py", "buildpyz", "-o", str(work / "site.pyz")],
        cwd=site, env=env, check=True, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    print(f"secret scan in the example's build: {scan_ms(build.stdout)} ms")
    print(next(line for line in build.stdout.splitlines() if "Scanned" in line))
    if vendor_front_end(site, work):
        now, before = front_end_sizes(python, site, work, env)
        print(f"archive with a vendored front end: {now:.1f} MB now, {before:.1f} MB before")


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
