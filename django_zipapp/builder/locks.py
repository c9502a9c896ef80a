"""The versions that a uv.lock, poetry.lock or pdm.lock beside a pyproject.toml locks (or
the uv.lock of the uv workspace the pyproject.toml is a member of).

pip reads no such lock file: from ``[project] dependencies`` alone it installs the newest
releases they allow, not what ``uv sync``, ``poetry install`` or ``pdm sync`` put in the
virtualenv the build runs in (where the static files are collected), so the archive would run other
versions than the ones the project was tested with. The locked versions are handed to
pip as constraints instead: pip still resolves the dependencies, and installs the locked
release of each. Only releases from an index are pinned: a lock's local folders, URLs and
git checkouts have no version pip could look up, and a package the lock holds in more
than one version (one per Python version or platform) is left to pip.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from .errors import BuildError
from .running_copy import NAME as RUNNING_COPY
from .toml_files import read_toml, table_in

# The tool that writes each lock, and the command that brings it up to date.
LOCK_FILES = {"uv.lock": "uv lock", "poetry.lock": "poetry lock", "pdm.lock": "pdm lock"}


@dataclass(frozen=True)
class Lock:
    path: Path
    versions: Mapping[str, str]  # canonical name -> the locked version

    def constraints(self) -> tuple[str, ...]:
        return tuple(f"{name}=={version}" for name, version in sorted(self.versions.items()))


def find_lock(pyproject: Path) -> Lock | None:
    """The lock beside pyproject, else the uv.lock of the uv workspace it is a member
    of, with the versions it pins from an index."""
    for name in LOCK_FILES:
        path = pyproject.with_name(name)
        if path.is_file():
            return Lock(path, _locked_versions(path))
    workspace = _workspace_lock(pyproject.parent)
    return None if workspace is None else Lock(workspace, _locked_versions(workspace))


def _workspace_lock(folder: Path) -> Path | None:
    """The uv.lock of a folder above whose pyproject.toml declares a uv workspace: uv
    keeps one lock for all the workspace's members, at its root. Searched up to the
    repository's root, as the requirements are; outside a repository, not at all."""
    above = []
    for parent in folder.parents:
        above.append(parent)
        if (parent / ".git").exists():
            break
    else:
        return None
    for parent in above:
        root = parent / "pyproject.toml"
        if root.is_file() and (parent / "uv.lock").is_file() and _declares_workspace(root):
            return parent / "uv.lock"
    return None


def _declares_workspace(pyproject: Path) -> bool:
    # An empty [tool.uv.workspace] table declares one too.
    return isinstance(table_in(pyproject, "tool", "uv").get("workspace"), dict)


def refuse_stale_lock(lock: Lock, dependencies: Iterable[str], pyproject: Path) -> None:
    """Stop when a dependency does not allow the version the lock holds: pip would fail
    over the constraint with a resolution error that names neither file."""
    for line in dependencies:
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue  # pip names it
        locked = lock.versions.get(canonicalize_name(requirement.name))
        if locked is None or requirement.specifier.contains(locked, prereleases=True):
            continue
        raise BuildError(
            f"{lock.path.name} locks {requirement.name} {locked}, which {pyproject.name} "
            f"does not allow ({line!r}): the lock is older than the dependencies. Bring it "
            f"up to date with `{LOCK_FILES[lock.path.name]}` and build again."
        )


def _locked_versions(path: Path) -> dict[str, str]:
    seen: dict[str, set[str]] = {}
    for package in read_toml(path).get("package", []):
        if isinstance(package, dict) and _from_an_index(package):
            name = canonicalize_name(str(package.get("name", "")))
            seen.setdefault(name, set()).add(str(package.get("version", "")))
    return {
        name: next(iter(versions))
        for name, versions in seen.items()
        if len(versions) == 1 and name not in ("", RUNNING_COPY) and _valid(*versions)
    }


def _from_an_index(package: Mapping[str, object]) -> bool:
    source = package.get("source")
    if source is None:
        # poetry.lock: the default index; pdm.lock: an index unless it names a local
        # folder, a URL or a checkout instead.
        return not any(key in package for key in ("path", "url", "git", "hg", "svn", "bzr"))
    if not isinstance(source, dict):
        return False
    # uv.lock: {registry = URL}; poetry.lock: a [package.source] of type "legacy".
    return "registry" in source or source.get("type") == "legacy"


def _valid(version: str) -> bool:
    try:
        Version(version)
    except InvalidVersion:
        return False
    return True
