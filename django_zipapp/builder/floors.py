"""The project's pins against the lowest versions the archive's runtime works with.

A pin below a floor (gunicorn==22.0.0 where serve needs gunicorn>=24.0) is refused before
pip runs: pip would spend its time only to report a conflict, or, without the floor in
its arguments, build an archive that fails when it starts.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterable, Iterator
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from .errors import BuildError
from .includes import flatten_requirements
from .requirements import Requirements


def refuse_pins_below_floors(found: Requirements, runtime: Iterable[str]) -> None:
    """runtime: what the archive needs at run time, each with its floor (>=)."""
    floors = _floors(runtime)
    below = [
        f"{name} {pinned} (in {where}), below its floor {floors[name]}"
        for name, pinned, where in _pins(found)
        if name in floors and pinned < floors[name]
    ]
    if below:
        raise BuildError(
            f"The project pins {'; '.join(below)}: the archive's runtime (serve, its "
            "configuration and static files) needs at least those versions, so it would "
            "fail where it runs. Raise each pin to its floor or newer and build again."
        )


def _floors(requirements: Iterable[str]) -> dict[str, Version]:
    floors: dict[str, Version] = {}
    for line in requirements:
        requirement = Requirement(line)
        if requirement.marker and not requirement.marker.evaluate():
            continue
        for specifier in requirement.specifier:
            if specifier.operator == ">=":
                floors[canonicalize_name(requirement.name)] = Version(specifier.version)
    return floors


def _pins(found: Requirements) -> Iterator[tuple[str, Version, str]]:
    """(name, version, file) of each exact pin pip would honour for this build."""
    if found.flattened is None:  # a pyproject.toml's dependencies
        lines = [(line, found.source.name) for line in found.pip_args]
        if found.lock is not None:
            lines += [(line, found.lock.name) for line in found.constraints]
    else:
        lines = [(line, found.source.name) for line in found.flattened.splitlines()]
    # Constraints pin versions too: those the file names, and pip's own variable's.
    for line, _ in list(lines):
        if line.startswith(("-c ", "--constraint ")):
            lines += _lines_of(Path(line.split(None, 1)[1]))
    for constraints in shlex.split(os.environ.get("PIP_CONSTRAINT", "")):
        if Path(constraints).is_file():
            lines += _lines_of(Path(constraints))
    for line, where in lines:
        pinned = _pinned(line)
        if pinned is not None:
            yield (*pinned, where)


def _lines_of(path: Path) -> list[tuple[str, str]]:
    try:
        read, _ = flatten_requirements(path)
    except BuildError:
        return []  # pip names the problem with the file itself
    return [(line, path.name) for line in read]


def _pinned(line: str) -> tuple[str, Version] | None:
    if line.startswith(("-", "/")):  # options, and local folders made absolute
        return None
    try:
        requirement = Requirement(line.split(" --", 1)[0])  # without --hash=...
    except InvalidRequirement:
        return None  # pip names the problem with the line itself
    if requirement.url or (requirement.marker and not requirement.marker.evaluate()):
        return None
    for specifier in requirement.specifier:
        if specifier.operator in ("==", "===") and not specifier.version.endswith(".*"):
            try:
                return canonicalize_name(requirement.name), Version(specifier.version)
            except InvalidVersion:
                return None
    return None
