"""Deploy rows: cold and warm starts, a new build's first start, disk, rebuilds.

For each site (the example project; a Wagtail site as ``wagtail start`` makes it, with
Wagtail's full dependency set, generated here), in one run:

- after changing one template, a clean build (empty builder cache, pip's download
  cache warm) and a rebuild (the builder's cache from the build before the change), of
  that same tree: their times, and whether the two archives are byte for byte equal;
- the archive's warm start, its cold start (empty SHIV_ROOT) against the warm one, with
  SHIV_ROOT on the bench's disk, on a RAM file system, and (run as root) on an ext4 file
  system with a journal, as ``mkfs.ext4`` makes it, in a loop-mounted image;
- a deploy: that build (one template changed, same dependencies) started in the
  SHIV_ROOT where the previous build was unpacked, against the warm start; the one after,
  readied by ``site.pyz prepare`` while nothing changes for the running one, and started;
- the disk that SHIV_ROOT takes after those three deploys, against one build's;
- with ``--compare-boot REV``: ``site.pyz prepare`` into a new SHIV_ROOT right after as
  many files as a cold start creates were made and removed next to it, against the same
  with REV's start-up code (see boots.py), the order alternating from run to run.

Called from run.py (``--deploys example,wagtail``); every figure comes from this run.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

WAGTAIL_REQUIREMENT = "wagtail"
# What `wagtail start` leaves to the user, for a production archive: django_zipapp in
# INSTALLED_APPS, the key and hosts from the environment, the database outside the
# archive (the state directory systemd gives, else the bench's STATE_DIR).
WAGTAIL_PRODUCTION = """
import os as _os

INSTALLED_APPS = [*INSTALLED_APPS, "django_zipapp"]
SECRET_KEY = _os.environ["SECRET_KEY"]
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
# systemd's StateDirectory= (and buildpyz's verification) give STATE_DIRECTORY.
_STATE = _os.environ.get("STATE_DIRECTORY") or _os.environ["STATE_DIR"]
DATABASES["default"]["NAME"] = _os.path.join(_STATE, "wagtail.sqlite3")
MEDIA_ROOT = _os.path.join(_STATE, "media")
"""


def measure(
    ws: Any, runs: int, sites: list[str], bench: Any, compare_boot: str | None = None
) -> list[Any]:
    """The rows for each site; bench: run.py, whose helpers this module uses."""
    rows: list[Any] = []
    for site in sites:
        rows += Site(bench, ws, site, compare_boot).measure(runs)
    return rows


class Site:
    def __init__(self, bench: Any, ws: Any, name: str, compare_boot: str | None = None) -> None:
        self.bench = bench
        # A git revision whose start-up code is measured beside this one's (see boots.py).
        self.compare_boot = compare_boot
        self.ws = ws
        self.name = name
        self.root: Path = ws.root / f"deploys-{name}"
        self.root.mkdir()
        self.env = {**ws.env, "SOURCE_DATE_EPOCH": "1700000000"}
        self.python: Path = ws.python
        self.template = Path()
        # Trees the measurements are done with, removed once they are all taken: see
        # remove_leftovers().
        self.leftovers: list[Path] = []
        # Where an ext4 file system with a journal is mounted, if the bench may make one.
        self.journaled: Path | None = None

    # The site

    def make(self) -> Path:
        project = self.root / "project"
        if self.name == "example":
            shutil.copytree(
                self.ws.site,
                project,
                ignore=shutil.ignore_patterns("staticfiles", "__pycache__", "var"),
            )
            self.template = project / "notes" / "templates" / "notes" / "home.html"
            return project
        venv = self.root / "venv"
        self.bench.note("making a virtualenv with Wagtail, and a site with `wagtail start`")
        self.bench.run("wagtail venv", [sys.executable, "-m", "venv", venv], ws=self.ws)
        self.python = venv / "bin" / "python"
        pip = [self.python, "-m", "pip", "install", "--no-input"]
        self.bench.run("install wagtail", [*pip, self.bench.REPO, WAGTAIL_REQUIREMENT], ws=self.ws)
        project.mkdir()
        self.bench.run(
            "wagtail start", [venv / "bin" / "wagtail", "start", "mysite", project], ws=self.ws
        )
        # `wagtail start` may ask for a Django newer than this Python runs: pin the one
        # that pip installed beside Wagtail here.
        django = self.bench.output_of(
            [self.python, "-c", "import django; print(django.__version__)"], self.ws.env
        )
        requirements = project / "requirements.txt"
        lines = requirements.read_text().splitlines()
        lines = [
            f"Django=={django}" if line.lower().startswith("django") else line for line in lines
        ]
        requirements.write_text("\n".join(lines) + "\n")
        with (project / "mysite" / "settings" / "production.py").open("a") as settings:
            settings.write(WAGTAIL_PRODUCTION)
        manage = (project / "manage.py").read_text()
        (project / "manage.py").write_text(manage.replace("settings.dev", "settings.production"))
        self.template = project / "home" / "templates" / "home" / "welcome_page.html"
        return project

    def change_template(self, index: int) -> None:
        with self.template.open("a") as template:
            template.write(f"\n{{# deploy {index} #}}\n")

    # Steps

    def build(self, project: Path, output: Path, step: str, cache: Path) -> float:
        output.parent.mkdir(parents=True, exist_ok=True)
        env = {
            **self.env,
            "XDG_CACHE_HOME": str(cache),
            "PIP_CACHE_DIR": self.bench.pip_cache_dir(self.ws),
        }
        command = [self.python, "manage.py", "buildpyz", "-o", output]
        return float(self.bench.run(step, command, ws=self.ws, cwd=project, env=env))

    def clean_build(self, project: Path, output: Path, step: str) -> float:
        copy = self.root / f"clean-{output.stem}"
        shutil.copytree(project, copy, ignore=shutil.ignore_patterns("staticfiles", "__pycache__"))
        cache = self.root / f"clean-cache-{output.stem}"
        try:
            return self.build(copy, output, step, cache)
        finally:
            self.leftovers += [copy, cache]

    def start(self, archive: Path, shiv_root: Path, step: str) -> float:
        return float(
            self.bench.time_to_first_200(
                step,
                lambda bind: [self.python, archive, "serve", "--bind", bind, "--workers", "2"],
                ws=self.ws,
                env={**self.ws.server_env, **self.env, "SHIV_ROOT": str(shiv_root)},
            )
        )

    def archive_command(self, archive: Path, shiv_root: Path, *args: str) -> float:
        env = {**self.ws.server_env, **self.env, "SHIV_ROOT": str(shiv_root)}
        return float(
            self.bench.run(f"{self.name}: {' '.join(args)}", [self.python, archive, *args],
                           ws=self.ws, env=env)
        )  # fmt: skip

    # The measurements

    def measure(self, runs: int) -> list[Any]:
        bench, name = self.bench, self.name
        project = self.make()
        dist = self.root / "dist"
        state = self.root / "state"
        state.mkdir()
        self.env["STATE_DIR"] = str(state)
        got: dict[str, list[float]] = {}
        bench.note(f"{name}: first build (fills pip's cache)")
        self.build(project, dist / "first.pyz", f"{name}: first build", self.root / "cache")
        self.archive_command(dist / "first.pyz", self.root / "migrate-root", "migrate", "--noinput")
        builder_cache = self.root / "cache"
        with JournaledDisk(self.root / "ext4") as self.journaled:
            for index in range(1, runs + 1):
                self.run_once(index, project, dist, builder_cache, got)
        self.remove_leftovers()
        return self.rows(got)

    def run_once(
        self,
        index: int,
        project: Path,
        dist: Path,
        builder_cache: Path,
        got: dict[str, list[float]],
    ) -> None:
        bench, name = self.bench, self.name

        def add(key: str, value: float) -> None:
            got.setdefault(key, []).append(value)

        # One template changed; then a clean build and a rebuild of that same tree.
        self.change_template(index)
        clean = dist / f"clean-{index}.pyz"
        add("clean", self.clean_build(project, clean, f"{name}: clean"))
        archive = dist / f"rebuild-{index}.pyz"
        add("rebuild", self.build(project, archive, f"{name}: rebuild", builder_cache))
        add("identical", float(sha256(archive) == sha256(clean)))
        bench.note(f"{name}: clean {got['clean'][-1]:.1f} s, rebuild {got['rebuild'][-1]:.1f} s")
        previous = dist / ("first.pyz" if index == 1 else f"rebuild-{index - 1}.pyz")
        self.starts(index, project, previous, archive, add)
        bench.note(
            f"{name}: warm {got['warm'][-1]:.2f} s, cold {got['cold'][-1]:.2f} s, "
            f"new build {got['new'][-1]:.2f} s, after prepare {got['prepared'][-1]:.2f} s"
        )

    def starts(
        self,
        index: int,
        project: Path,
        previous: Path,
        archive: Path,
        add: Callable[[str, float], None],
    ) -> None:
        name = self.name
        one = self.root / f"one-{index}"
        add("cold", self.start(archive, one, f"{name}: cold start {index}"))
        add("created", float(entries_under(one)))
        add("archive files", float(unpackable_files(archive)))
        self.start(archive, one, f"{name}: warm-up start {index}")
        add("warm", self.start(archive, one, f"{name}: warm start {index}"))
        add("one build", disk_usage(one) / self.bench.MB)
        add("floor", copy_like(one, self.root / f"floor-{index}"))
        self.leftovers.append(self.root / f"floor-{index}")
        if RAM_FOLDER.is_dir() and os.access(RAM_FOLDER, os.W_OK):
            # The same cold start where creating a file costs the kernel little: what
            # the extraction itself costs, the file system's part aside.
            in_ram = RAM_FOLDER / f"django-zipapp-bench-{os.getpid()}-{name}-{index}"
            try:
                add("cold in RAM", self.start(archive, in_ram, f"{name}: cold start in RAM"))
            finally:
                shutil.rmtree(in_ram, ignore_errors=True)
        if self.journaled:
            # The same cold start on a disk file system as servers usually have one (ext4
            # with its journal), right after as many files and folders were removed from
            # it: the case that costs the journal-less one most (see remove_leftovers()).
            removed = self.journaled / f"removed-{index}"
            shutil.copytree(one, removed, symlinks=True)
            shutil.rmtree(removed)
            on_ext4 = self.journaled / f"cold-{index}"
            add("cold on ext4", self.start(archive, on_ext4, f"{name}: cold start on ext4"))
            shutil.rmtree(on_ext4)
        # Three deploys into one SHIV_ROOT: the previous build, unpacked; this one (one
        # template changed) started right away; the next one readied by prepare first.
        deploys = self.root / f"deploys-{index}"
        self.archive_command(previous, deploys, "prepare")
        add("new", self.start(archive, deploys, f"{name}: new build, first start {index}"))
        self.change_template(100 * index)
        following = archive.with_name(f"deploy-{index}.pyz")
        self.build(project, following, f"{name}: deploy build", self.root / "cache")
        add("prepare", self.archive_command(following, deploys, "prepare"))
        add("prepared", self.start(following, deploys, f"{name}: prepared start {index}"))
        add("three", disk_usage(deploys) / self.bench.MB)
        self.leftovers += [one, deploys]
        # Last, as a deploy that builds on the server does: the clean build's trees
        # removed, then a cold start on the same disk at once (see remove_leftovers()).
        for tree in [tree for tree in self.leftovers if tree.name.startswith("clean-")]:
            shutil.rmtree(tree, ignore_errors=True)
            self.leftovers.remove(tree)
        after = self.root / f"after-removal-{index}"
        add("cold after removal", self.start(archive, after, f"{name}: cold after removal"))
        self.leftovers.append(after)
        if self.compare_boot:
            self.unpack_after_removal(index, archive, one, add)

    def unpack_after_removal(
        self, index: int, archive: Path, one: Path, add: Callable[[str, float], None]
    ) -> None:
        """``prepare`` (the unpacking alone) into a new SHIV_ROOT right after as many files
        as a cold start creates were made and removed next to it, with this start-up code
        and with the compared revision's, the order alternating from run to run."""
        from boots import with_boot_of

        earlier = with_boot_of(
            archive, str(self.compare_boot), archive.with_name(f"boot-{index}.pyz")
        )
        sides = [("unpack after removal", archive), ("unpack after removal, compared", earlier)]
        for key, which in sides if index % 2 else sides[::-1]:
            removed = self.root / f"removed-{index}"
            shutil.copytree(one, removed, symlinks=True)
            shutil.rmtree(removed)
            target = self.root / f"{key.replace(' ', '-').replace(',', '')}-{index}"
            add(key, self.archive_command(which, target, "prepare"))
            self.leftovers.append(target)

    def remove_leftovers(self) -> None:
        """Remove the trees that the measurements are done with, after the last one.

        Not between them: on a file system that keeps no journal (ext4 without one, as
        on the machine of docs/benchmarks.rst), the kernel avoids reusing an inode freed
        in the last minute or more, and each new file or folder then costs a search
        past every inode just freed: a cold start timed right after the bench removed
        a clean build's tens of thousands of files would measure that search.
        """
        for tree in self.leftovers:
            shutil.rmtree(tree, ignore_errors=True)
        self.leftovers.clear()

    def rows(self, got: dict[str, list[float]]) -> list[Any]:
        row, name = self.bench.Row, self.name
        warm = "the archive's warm start"
        rows = [
            row(f"{name}: build, clean (s)", got["clean"]),
            row(
                f"{name}: rebuild after one template change (s)",
                got["rebuild"],
                got["clean"],
                "a clean build (empty builder cache)",
                paired=True,
            ),
            row(f"{name}: rebuild byte-identical to a clean build (1 = yes)", got["identical"]),
            row(f"{name}: start to first 200, warm (s)", got["warm"]),
            row(
                f"{name}: start to first 200, cold (s)", got["cold"], got["warm"], warm, paired=True
            ),
            *(
                row(
                    f"{name}: start to first 200, cold, SHIV_ROOT {where} (s)",
                    got.get(key, []),
                    got["warm"],
                    warm,
                    paired=True,
                )
                for where, key in (
                    (f"in {RAM_FOLDER}", "cold in RAM"),
                    ("on ext4 with a journal", "cold on ext4"),
                    ("on its disk, right after a clean build was removed", "cold after removal"),
                )
            ),
            row(
                f"{name}: prepare in a new SHIV_ROOT right after as many files were removed "
                "next to it (s)",
                got.get("unpack after removal", []),
                got.get("unpack after removal, compared", []),
                f"the same with the start-up code of {self.compare_boot}",
                paired=True,
            ),
            row(
                f"{name}: files and folders created by a cold start",
                got["created"],
                got["archive files"],
                "the files of site-packages in the archive",
                paired=True,
            ),
            row(
                f"{name}: cp -R of the cold start's SHIV_ROOT (s)",
                got["floor"],
                got["cold"],
                "the cold start",
                paired=True,
            ),
            row(
                f"{name}: new build, same dependencies, first start (s)",
                got["new"],
                got["warm"],
                warm,
                paired=True,
            ),
            row(f"{name}: prepare a new build (s)", got["prepare"]),
            row(
                f"{name}: new build started after prepare (s)",
                got["prepared"],
                got["warm"],
                warm,
                paired=True,
            ),
            row(
                f"{name}: SHIV_ROOT after three deploys (MB)",
                got["three"],
                got["one build"],
                "SHIV_ROOT after one build's cold start",
                paired=True,
            ),
        ]
        return [row for row in rows if row.zipapp]  # none in RAM or on ext4 without one


# A RAM file system (tmpfs) on Linux.
RAM_FOLDER = Path("/dev/shm")


class JournaledDisk:
    """An ext4 file system with a journal, as ``mkfs.ext4`` makes it, while in use.

    Made in a sparse image file at ``folder``.img and loop-mounted at folder. Entering
    gives the mount point, or None where the bench cannot mount one (not root, no
    ``mkfs.ext4``, no loop device): the row is then left out.
    """

    SIZE = "4G"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.image = folder.with_suffix(".img")
        self.mounted = False

    def __enter__(self) -> Path | None:
        if os.geteuid() != 0 or not (shutil.which("mkfs.ext4") and shutil.which("mount")):
            return None
        self.folder.mkdir()
        commands: list[list[str | Path]] = [
            ["truncate", "-s", self.SIZE, self.image],
            ["mkfs.ext4", "-q", "-F", self.image],
            ["mount", "-o", "loop", self.image, self.folder],
        ]
        for command in commands:
            made = subprocess.run(command, capture_output=True, text=True)
            if made.returncode != 0:
                print(f"  (no ext4 file system to measure on: {made.stderr.strip()})", flush=True)
                self.image.unlink(missing_ok=True)
                return None
        self.mounted = True
        return self.folder

    def __exit__(self, *exc: object) -> None:
        if self.mounted:
            subprocess.run(["umount", self.folder], check=True)
        self.image.unlink(missing_ok=True)


def copy_like(tree: Path, copy: Path) -> float:
    """Seconds for ``cp -R`` to copy tree (the cold start's SHIV_ROOT) beside it.

    What the file system alone costs an extraction: the same folders and files, the same
    bytes, read from the page cache; no zip, no decompression, one process.
    """
    started = time.perf_counter()
    subprocess.run(["cp", "-R", str(tree), str(copy)], check=True)
    return time.perf_counter() - started


def entries_under(path: Path) -> int:
    """Files, folders and links a start created under path (links not followed)."""
    return sum(len(dirs) + len(files) for _, dirs, files in os.walk(path))


def unpackable_files(archive: Path) -> int:
    """The files of site-packages (and their bytecode) the archive holds."""
    import zipfile

    with zipfile.ZipFile(archive) as zf:
        names = zf.namelist()
    return sum(1 for name in names if name.startswith(("site-packages/", "bytecode/"))
               and not name.endswith("/"))  # fmt: skip


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def disk_usage(path: Path) -> int:
    """Bytes of disk under path, as du counts them: each inode once, links not followed."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for directory, dirs, files in os.walk(path):
        for name in [*dirs, *files, ""]:
            stat = os.lstat(os.path.join(directory, name))
            if (stat.st_dev, stat.st_ino) not in seen:
                seen.add((stat.st_dev, stat.st_ino))
                total += stat.st_blocks * 512
    return total
