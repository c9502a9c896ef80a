"""Requirements the archive's Python needs that pip left out for the Python of the build.

pip judges a requirement's environment marker by the interpreter that runs it. An
archive built for Python X.Y runs on any X.Y, from X.Y.0 on: a marker such as
``python_full_version < "3.11.3"`` (redis's async-timeout), true on Debian's 3.11.2 but
false for a build under 3.11.7, would leave the server without a module it imports. Each
requirement is judged again for the oldest Python the archive accepts; the build asks
pip for those the resolution lacks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from packaging.markers import (
    InvalidMarker,
    UndefinedComparison,
    UndefinedEnvironmentName,
    default_environment,
)
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name


def oldest_environment(python: str) -> dict[str, str]:
    """The marker environment of this machine with the oldest release of Python X.Y."""
    environment = {key: str(value) for key, value in default_environment().items()}
    environment["python_version"] = python
    environment["python_full_version"] = f"{python}.0"
    return environment


def missing_requirements(
    resolved: Iterable[Mapping[str, Any]], environment: Mapping[str, str]
) -> list[str]:
    """What the resolved distributions require in environment that none of them is,
    as requirement strings without their markers (pip's report items, sorted)."""
    items = list(resolved)
    have = {canonicalize_name(str(item["metadata"]["name"])) for item in items}
    missing: dict[str, str] = {}
    for item in items:
        metadata = item["metadata"]
        extras = ["", *item.get("requested_extras", [])]
        for line in metadata.get("requires_dist", []):
            try:
                requirement = Requirement(line)
            except InvalidRequirement:
                continue  # pip resolved it, so it cannot matter here
            name = canonicalize_name(requirement.name)
            if name in have or requirement.marker is None:
                continue
            if _applies(requirement, environment, extras):
                requirement.marker = None
                missing.setdefault(name, str(requirement))
    return sorted(missing.values())


def _applies(requirement: Requirement, environment: Mapping[str, str], extras: list[str]) -> bool:
    assert requirement.marker is not None
    try:
        return any(requirement.marker.evaluate({**environment, "extra": extra}) for extra in extras)
    except (InvalidMarker, UndefinedComparison, UndefinedEnvironmentName):
        return False
