"""Copying the project's files into the staging site-packages, leaving out what must not ship."""

from __future__ import annotations

import fnmatch
import importlib.metadata
import os
import shutil
import stat
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import django_zipapp

from .secrets import DEVELOPMENT_CONFIG_NAMES

# Each name or pattern with the reason `buildpyz --list` gives for leaving it out.
SKIPPED_DIRS = {
    "__pycache__": "bytecode cache",
    ".git": "version control", ".hg": "version control", ".svn": "version control",
    ".tox": "test environments", ".nox": "test environments",
    ".venv": "virtualenv", "venv": "virtualenv",
    ".mypy_cache": "tool cache", ".pytest_cache": "tool cache", ".ruff_cache": "tool cache",
    "node_modules": "JavaScript packages", ".idea": "editor settings",
    ".vscode": "editor settings",
}  # fmt: skip
SKIPPED_FILES = {
    "*.py[co]": "bytecode",
    ".env": "private environment file", ".env.*": "private environment file",
    "*.env": "private environment file",
    "local_settings.py": "local settings", "settings_local.py": "local settings",
    "*.pem": "private key or certificate", "*.key": "private key",
    "*.sqlite": "database", "*.sqlite3": "database", "*.db": "database",
    "*.sqlite3-journal": "database journal", "*.db-journal": "database journal",
    "*-wal": "database journal", "*-shm": "database journal",
    ".DS_Store": "editor or system leftover", "*~": "editor or system leftover",
    "*.pyz": "archive",
    # It may set a development key; the archive has its own entry and never runs it.
    "manage.py": "the development entry point",
    **dict.fromkeys(DEVELOPMENT_CONFIG_NAMES, "a development config file"),
}  # fmt: skip
# The project's tests: the site never imports them. --include ships them all the same.
TEST_DIRS = ("tests",)
TEST_FILES = ("tests.py", "test_*.py", "*_tests.py", "conftest.py")
TESTS_REASON = "the project's tests (--include ships them)"
SQLITE_MAGIC = b"SQLite format 3\x00"

# Called with each path left out and the reason, by `buildpyz --list`.
OnSkip = Callable[[Path, str], None]


@dataclass(frozen=True)
class Rules:
    """What a walk leaves out besides the built-in names: paths, and --exclude patterns."""

    skip: Mapping[Path, str] = field(default_factory=dict)
    exclude: tuple[str, ...] = ()
    root: Path | None = None  # what --exclude patterns with a "/" are relative to
    leave_out_tests: bool = False

    def resolved(self) -> Rules:
        skip = {path.resolve(): reason for path, reason in self.skip.items()}
        root = self.root.resolve() if self.root else None
        return Rules(skip, self.exclude, root, self.leave_out_tests)


def copy_tree(
    source: Path,
    target: Path,
    *,
    skip: Iterable[Path] | Mapping[Path, str] = (),
    rules: Rules | None = None,
    on_skip: OnSkip | None = None,
) -> int:
    """Copy source to target without private or generated files; return the file count."""
    if rules is None:
        reasons = skip if isinstance(skip, Mapping) else dict.fromkeys(skip, "left out")
        rules = Rules(reasons)
    count = 0
    for path in walk_shippable(source, rules=rules, on_skip=on_skip):
        destination = target / path.relative_to(source)
        destination.parent.mkdir(parents=True, exist_ok=True)
        copy_file(path, destination)
        count += 1
    return count


def walk_shippable(
    source: Path, *, rules: Rules = Rules(), on_skip: OnSkip | None = None
) -> Iterator[Path]:
    rules = rules.resolved()
    # Sorted, so that every build walks the same files in the same order.
    root = source.resolve()
    for directory, dirnames, filenames in os.walk(source):
        here = Path(directory)
        kept = []
        for name in sorted(dirnames):
            reason = _dir_reason(here / name, rules)
            if reason is None:
                kept.append(name)
            elif on_skip is not None:
                on_skip(here / name, reason)
        dirnames[:] = kept
        for name in sorted(filenames):
            path = here / name
            reason = _file_reason(path, rules)
            if reason is None and _links_outside(path, root):
                reason = "a link to a file outside its folder"
            if reason is None:
                yield path
            elif on_skip is not None:
                on_skip(path, reason)


def skip_reason(path: Path, rules: Rules = Rules()) -> str | None:
    """Why a single file is left out by the rules walk_shippable applies, or None."""
    return _file_reason(path, rules.resolved())


def _links_outside(path: Path, root: Path) -> bool:
    # A symlink to /etc/passwd or to another project's settings would ship its target.
    return path.is_symlink() and not path.resolve().is_relative_to(root)


def is_shippable(path: Path, rules: Rules = Rules()) -> bool:
    return skip_reason(path, rules) is None


def is_test_file(path: Path) -> bool:
    if path.is_dir():
        return path.name in TEST_DIRS
    return any(fnmatch.fnmatch(path.name, pattern) for pattern in TEST_FILES)


def never_packed(path: Path) -> str | None:
    """What a folder is that no archive holds, whatever the rules say (a virtualenv,
    version control, a cache), or None."""
    if path.name in SKIPPED_DIRS:
        return SKIPPED_DIRS[path.name]
    if (path / "pyvenv.cfg").exists():
        return "virtualenv"
    if path.name == "build" and ((path / "lib").is_dir() or any(path.glob("bdist.*"))):
        # setuptools' leftovers: files deleted from the sources live on in here.
        return "setuptools build folder"
    return None


def _dir_reason(path: Path, rules: Rules) -> str | None:
    if path.name in SKIPPED_DIRS:
        return SKIPPED_DIRS[path.name]
    if rules.leave_out_tests and path.name in TEST_DIRS:
        return TESTS_REASON
    return never_packed(path) or rules.skip.get(path.resolve()) or _excluded(path, rules)


def _file_reason(path: Path, rules: Rules) -> str | None:
    for pattern, builtin in SKIPPED_FILES.items():
        if fnmatch.fnmatch(path.name, pattern):
            return builtin
    reason = rules.skip.get(path.resolve()) or _excluded(path, rules)
    if reason is not None:
        return reason
    if rules.leave_out_tests and any(fnmatch.fnmatch(path.name, p) for p in TEST_FILES):
        return TESTS_REASON
    if not path.is_file():
        return "not a regular file"
    return "database" if is_sqlite_database(path) else None


def _excluded(path: Path, rules: Rules) -> str | None:
    relative = path.name
    if rules.root is not None and path.resolve().is_relative_to(rules.root):
        relative = path.resolve().relative_to(rules.root).as_posix()
    for pattern in rules.exclude:
        # Like .gitignore: a pattern without a slash matches a name at any depth.
        subject = relative if "/" in pattern.strip("/") else path.name
        if fnmatch.fnmatch(subject, pattern.strip("/")):
            return f"excluded by {pattern!r}"
    return None


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


def copy_self(site_packages: Path, *, installed: Path | None = None) -> str | None:
    """Put the running django_zipapp into the archive, unless pip already installed one.

    installed is where pip installed the dependencies, when not into site_packages.
    Returns the version pip installed, when it did, so the caller can say it differs.
    """
    by_pip = list((installed or site_packages).glob("django_zipapp-*.dist-info"))
    if by_pip:
        return _version_of(by_pip[0])
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
