"""A requirement on django-zipapp that the copy running the build already satisfies.

pip installs the archive's dependencies into an empty folder (``--target``), where it
finds nothing installed, so it would fetch django-zipapp from the index even when the
copy running the build satisfies the requirement, as ``pip install`` in the virtualenv
would not: a copy installed from a checkout or a private index would stop the build,
and a released one would bring the build's own libraries (shiv, pip, CycloneDX) into
the archive. Such a requirement is left to the running copy, which the build packs
anyway (files.copy_self), as pip leaves an installed distribution that satisfies one;
the requirements of its extras are installed in its stead.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import metadata

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

import django_zipapp

NAME = "django-zipapp"


def without_running_copy(lines: Sequence[str], hashed: bool = False) -> list[str]:
    """The requirements, each on django-zipapp that the running copy satisfies replaced
    by what its extras need. hashed: a file in pip's hash-checking mode, which names
    what the extras need itself, pinned and hashed, and where pip would refuse those
    requirements without their hashes (hashes.py says when one is missing)."""
    result: list[str] = []
    for line in lines:
        instead = _satisfied_here(line)
        result.extend([line] if instead is None else [] if hashed else instead)
    return result


def _satisfied_here(line: str) -> list[str] | None:
    """None when line is not a requirement that the running copy satisfies; else the
    requirements of the extras it names."""
    # A requirements file's line may carry options of its own after the requirement.
    text = line.split(" --", 1)[0].strip()
    if text.startswith("-"):
        return None
    try:
        requirement = Requirement(text)
    except InvalidRequirement:
        return None
    if canonicalize_name(requirement.name) != NAME or requirement.url:
        return None
    if requirement.marker is not None and not requirement.marker.evaluate():
        return None  # pip would skip it too
    if not requirement.specifier.contains(django_zipapp.__version__, prereleases=True):
        return None  # another version: pip installs the one the requirements name
    return _extras_requirements(requirement.extras)


def _extras_requirements(extras: set[str]) -> list[str] | None:
    if not extras:
        return []
    try:
        declared = metadata.requires(NAME) or []
    except metadata.PackageNotFoundError:
        return None  # no metadata to read the extras from: pip installs them as named
    needed = []
    for entry in declared:
        requirement = Requirement(entry)
        marker = requirement.marker
        if marker is None or marker.evaluate({"extra": ""}):
            continue  # not an extra's: the archive's runtime requirements carry those
        if any(marker.evaluate({"extra": extra}) for extra in extras):
            requirement.marker = None
            needed.append(str(requirement))
    return needed
