"""Default rules beyond names: what git ignores, and the root's build and deploy tooling.

Each is left out with a reason that says how to ship it on purpose (--include); the build
names them in its summary and `buildpyz --list` beside each path.
"""

from __future__ import annotations

import fnmatch
import shutil
import subprocess
from collections.abc import Callable, Collection, Iterable
from pathlib import Path, PurePosixPath

INCLUDE_HINT = "--include it to ship it"
GIT_IGNORED = f"ignored by git; {INCLUDE_HINT}"
TOOLING = f"build or deploy tooling, not read by the site; {INCLUDE_HINT}"
# Files next to manage.py that build, test or deploy the site but are never read by it.
ROOT_TOOLING = (
    "Dockerfile", "Dockerfile.*", "*.Dockerfile", "Containerfile", ".dockerignore",
    "docker-compose*.yml", "docker-compose*.yaml", "compose.yml", "compose.yaml",
    "Vagrantfile", "Procfile", "Makefile", "Justfile", "fabfile.py", "tox.ini", "noxfile.py",
    "package.json", "package-lock.json", "yarn.lock", "pnpm-lock.yaml", "*.code-workspace",
)  # fmt: skip
# Python's lock files: the build reads uv.lock, poetry.lock, pdm.lock (locks.py) and
# Pipfile.lock (pipfile.py) itself, so leaving them out is no news worth a note in every
# build's summary.
ROOT_LOCKS = ("uv.lock", "poetry.lock", "pdm.lock", "Pipfile", "Pipfile.lock")
LOCK = "a lock file of the dependencies, which the archive carries installed"
# Reasons a build names in its summary, with the option that ships the path.
NAMED_IN_SUMMARY = ("database", GIT_IGNORED, TOOLING, "MEDIA_ROOT, uploads")
# Names of private files and folders: no note or listing ever invites --include for them.
PRIVATE_NAMES = (
    ".env*", "*.env", "*.pem", "*.key", "*.p12", "*.pfx", "*.jks", "*.keystore",
    "id_rsa*", "id_dsa*", "id_ecdsa*", "id_ed25519*", ".ssh", ".gnupg", ".netrc", ".pgpass",
    ".htpasswd", "secrets", "secrets.*", "credentials*", "*.secret", "*.secrets", "keys",
)  # fmt: skip
PRIVATE_IGNORED = "ignored by git, and private: never packed"


def is_private(relative: PurePosixPath) -> bool:
    return any(fnmatch.fnmatch(part, p) for part in relative.parts for p in PRIVATE_NAMES)


def default_skips(root: Path) -> dict[Path, str]:
    ignored = git_ignored(root)
    skips = {
        path: PRIVATE_IGNORED if is_private(PurePosixPath(path.name)) else GIT_IGNORED
        for path in ignored
        if not compiled_from_shipped_source(path, ignored)
    }
    for path in sorted(root.iterdir()):
        if path.is_file() and any(fnmatch.fnmatch(path.name, p) for p in ROOT_TOOLING):
            skips.setdefault(path, TOOLING)
        elif path.is_file() and path.name in ROOT_LOCKS:
            skips.setdefault(path, LOCK)
    return skips


def compiled_from_shipped_source(path: Path, ignored: Collection[Path]) -> bool:
    """A compiled catalogue (``.mo``) beside its ``.po``, which git does not ignore.

    compilemessages writes each ``.mo`` beside its ``.po``, and many ``.gitignore`` files
    list ``*.mo`` (GitHub's template for Python does): the site reads only the ``.mo``,
    so without it the ``.po`` that ships would translate nothing.
    """
    if path.suffix != ".mo" or path.parent.name != "LC_MESSAGES":
        return False
    source = path.with_suffix(".po")
    return source.is_file() and not any(source.is_relative_to(other) for other in ignored)


def git_ignored(root: Path) -> list[Path]:
    """The files and folders under root that git ignores, when root is in a checkout."""
    if shutil.which("git") is None:
        return []
    command = ["git", "-C", str(root), "ls-files", "--others", "--ignored"]
    command += ["--exclude-standard", "--directory", "-z", "--", "."]
    try:
        result = subprocess.run(command, capture_output=True, check=False, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return []
    if result.returncode != 0:
        return []  # not a git checkout
    names = result.stdout.decode("utf-8", "surrogateescape").split("\0")
    return [root / name.rstrip("/") for name in names if name]


class LeftOut:
    """Collects what a default rule left out that an option could ship, for the summary."""

    def __init__(self, root: Path, included: Iterable[PurePosixPath] = ()) -> None:
        self.root = root
        self.included = tuple(included)  # shipped on purpose all the same
        self.paths: list[tuple[str, str]] = []

    def __call__(self, path: Path, reason: str) -> None:
        if reason not in NAMED_IN_SUMMARY or not path.resolve().is_relative_to(self.root):
            return
        relative = PurePosixPath(path.resolve().relative_to(self.root).as_posix())
        if is_private(relative):
            return  # left out for good: never an invitation to ship it
        if not any(relative.is_relative_to(included) for included in self.included):
            self.paths.append((relative.as_posix(), reason))

    def report(self, report: Callable[[str], None], limit: int = 10) -> None:
        for name, reason in self.paths[:limit]:
            report(f"Note: left out {name} ({reason.split(';')[0]}); --include {name} ships it")
        if len(self.paths) > limit:
            more = len(self.paths) - limit
            report(f"Note: and {more} more left out; buildpyz --list names each")
