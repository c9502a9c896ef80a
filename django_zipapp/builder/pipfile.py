"""The dependencies a Pipfile.lock locks, as lines of a requirements file for pip.

pip reads neither a Pipfile nor its lock. The lock's ``default`` section is what
``pipenv sync`` installs into the virtualenv the build runs in: every distribution the
Pipfile's ``[packages]`` reach, each pinned, so it is installed as it stands, as
``pipenv requirements`` would write it. ``develop`` (``[dev-packages]``) is not.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name

from .errors import BuildError
from .running_copy import NAME as RUNNING_COPY
from .toml_files import read_toml, table

PIPFILE = "Pipfile"
LOCK = "Pipfile.lock"
_STALE = (
    "the lock is older than the Pipfile. Bring it up to date with `pipenv lock` and build again."
)


def pipfile_requirements(pipfile: Path) -> list[str]:
    """The requirements that the Pipfile.lock beside pipfile locks, after checking that
    it still matches the Pipfile's [packages]."""
    lock = pipfile.with_name(LOCK)
    if not lock.is_file():
        raise BuildError(
            f"{str(pipfile)!r} has no {LOCK} beside it, and the build installs the "
            f"versions a lock holds: write one with `pipenv lock` and build again."
        )
    locked = _locked(lock)
    _refuse_stale(_packages(pipfile), locked)
    return [_line(name, entry, lock.parent) for name, entry in sorted(locked.items())]


def _locked(lock: Path) -> dict[str, Mapping[str, object]]:
    try:
        data = json.loads(lock.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise BuildError(f"{str(lock)!r} could not be read as JSON: {exc}.") from None
    default = data.get("default") if isinstance(data, dict) else None
    if not isinstance(default, dict):
        raise BuildError(
            f'{str(lock)!r} has no "default" section of locked packages: write it again '
            "with `pipenv lock` and build again."
        )
    return {name: entry for name, entry in default.items() if isinstance(entry, dict)}


def _packages(pipfile: Path) -> Mapping[str, object]:
    return table(read_toml(pipfile), "packages")


def _refuse_stale(
    packages: Mapping[str, object], locked: Mapping[str, Mapping[str, object]]
) -> None:
    """Stop when the Pipfile names a package the lock lacks, or a version the lock's
    does not satisfy: pip would install what the Pipfile no longer asks for."""
    by_name = {canonicalize_name(name): entry for name, entry in locked.items()}
    for name, wanted in packages.items():
        entry = by_name.get(canonicalize_name(name))
        if entry is None:
            raise BuildError(f"{PIPFILE} lists {name}, which {LOCK} does not lock: {_STALE}")
        specifier = wanted.get("version") if isinstance(wanted, dict) else wanted
        version = str(entry.get("version", "")).removeprefix("==")
        if isinstance(specifier, str) and version and not _allows(specifier, version):
            raise BuildError(
                f"{LOCK} locks {name} {version}, which {PIPFILE} does not allow "
                f"({specifier!r}): {_STALE}"
            )


def _allows(specifier: str, version: str) -> bool:
    if specifier.strip() in ("", "*"):
        return True
    try:
        return SpecifierSet(specifier).contains(version, prereleases=True)
    except InvalidSpecifier:
        return True  # pipenv locked it; pip names what it cannot read


def _line(name: str, entry: Mapping[str, object], folder: Path) -> str:
    """One requirement, as `pipenv requirements` writes it (without hashes), and with a
    local folder as an absolute path, which the build installs as a copy."""
    extras = entry.get("extras")
    named = f"{name}[{','.join(map(str, extras))}]" if isinstance(extras, list) and extras else name
    markers = f"; {entry['markers']}" if isinstance(entry.get("markers"), str) else ""
    path = entry.get("path")
    if isinstance(path, str):
        if canonicalize_name(name) == RUNNING_COPY:
            return named + markers  # left to the copy running the build (running_copy.py)
        return f"{(folder / path).resolve()}{named[len(name) :]}{' ' if markers else ''}{markers}"
    for kind in ("git", "hg", "svn", "bzr"):
        url = entry.get(kind)
        if isinstance(url, str):
            ref = f"@{entry['ref']}" if isinstance(entry.get("ref"), str) else ""
            scheme = "" if url.startswith(f"{kind}+") else f"{kind}+"
            return f"{named} @ {scheme}{url}{ref}{markers}"
    url = entry.get("file")
    if isinstance(url, str):
        return f"{named} @ {url}{markers}"
    return f"{named}{entry.get('version', '')}{markers}"
