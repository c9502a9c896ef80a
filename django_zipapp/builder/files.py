"""Copying the project's files into the staging site-packages, leaving out what must not ship."""

from __future__ import annotations

import fnmatch
import importlib.metadata
import os
import shutil
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path

import django_zipapp

SKIPPED_DIRS = frozenset(
    {
        "__pycache__", ".git", ".hg", ".svn", ".tox", ".nox", ".venv", "venv",
        ".mypy_cache", ".pytest_cache", ".ruff_cache", "node_modules", ".idea", ".vscode",
    }
)  # fmt: skip
SKIPPED_FILES = (
    "*.py[co]", ".env", ".env.*", "*.env", "*.sqlite", "*.sqlite3", "*.db",
    "*.sqlite3-journal", "*.db-journal", "*-wal", "*-shm", ".DS_Store", "*.pyz", "*~",
)  # fmt: skip
SQLITE_MAGIC = b"SQLite format 3\x00"


def copy_tree(source: Path, target: Path, *, skip: Iterable[Path] = ()) -> int:
    """Copy source to target without private or generated files; return the file count."""
    count = 0
    for path in walk_shippable(source, skip=tuple(p.resolve() for p in skip)):
        destination = target / path.relative_to(source)
        destination.parent.mkdir(parents=True, exist_ok=True)
        copy_file(path, destination)
        count += 1
    return count


def walk_shippable(source: Path, *, skip: tuple[Path, ...] = ()) -> Iterator[Path]:
    # Sorted, so that every build walks the same files in the same order.
    root = source.resolve()
    for directory, dirnames, filenames in os.walk(source):
        here = Path(directory)
        dirnames[:] = sorted(name for name in dirnames if _keep_dir(here / name, skip))
        for name in sorted(filenames):
            path = here / name
            if _keep_file(path, skip) and not _links_outside(path, root):
                yield path


def _links_outside(path: Path, root: Path) -> bool:
    # A symlink to /etc/passwd or to another project's settings would ship its target.
    return path.is_symlink() and not path.resolve().is_relative_to(root)


def _keep_dir(path: Path, skip: tuple[Path, ...]) -> bool:
    if path.name in SKIPPED_DIRS or (path / "pyvenv.cfg").exists():
        return False
    return path.resolve() not in skip


def _keep_file(path: Path, skip: tuple[Path, ...]) -> bool:
    if any(fnmatch.fnmatch(path.name, pattern) for pattern in SKIPPED_FILES):
        return False
    if path.resolve() in skip or not path.is_file():
        return False
    return not is_sqlite_database(path)


def is_sqlite_database(path: Path) -> bool:
    try:
        with path.open("rb") as file:
            return file.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC
    except OSError:
        return False


def copy_file(source: Path, destination: Path) -> None:
    shutil.copyfile(source, destination)
    # Only the executable bit of the source survives: modes are part of the archive.
    executable = source.stat().st_mode & stat.S_IXUSR
    destination.chmod(0o755 if executable else 0o644)


def copy_self(site_packages: Path) -> str | None:
    """Put the running django_zipapp into the archive, unless pip already installed one.

    Returns the version pip installed, when it did, so the caller can say it differs.
    """
    installed = list(site_packages.glob("django_zipapp-*.dist-info"))
    if installed:
        return _version_of(installed[0])
    package = Path(django_zipapp.__file__).parent
    copy_tree(package, site_packages / "django_zipapp")
    dist_info = site_packages / f"django_zipapp-{django_zipapp.__version__}.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(_own_metadata(), encoding="utf-8")
    return None


def _own_metadata() -> str:
    try:
        distribution = importlib.metadata.distribution("django-zipapp")
    except importlib.metadata.PackageNotFoundError:
        distribution = None
    # An installed wheel has METADATA; a source checkout's egg-info has PKG-INFO.
    text = distribution and (
        distribution.read_text("METADATA") or distribution.read_text("PKG-INFO")
    )
    if not text:
        return f"Metadata-Version: 2.1\nName: django-zipapp\nVersion: {django_zipapp.__version__}\n"
    return text


def _version_of(dist_info: Path) -> str:
    return dist_info.name[len("django_zipapp-") : -len(".dist-info")]
