"""Requirements files that include others: one flat list, paths relative to their file."""

from __future__ import annotations

import re
from pathlib import Path

from .errors import BuildError

INCLUDE = re.compile(r"^(-r|--requirement)(?:\s*=\s*|\s+|(?<=-r))(\S+)$")
CONSTRAINT = re.compile(r"^(-c|--constraint)(?:\s*=\s*|\s+|(?<=-c))(\S+)$")
EDITABLE = re.compile(r"^(-e|--editable)(?:\s*=\s*|\s+|(?<=-e))(\S.*)$")
FIND_LINKS = re.compile(r"^(-f|--find-links)(?:\s*=\s*|\s+|(?<=-f))(\S+)$")
# A local path as pip recognises it (a separator, or a leading dot), with optional extras
# and the rest of the line (markers, per-requirement options).
LOCAL = re.compile(r"^(\.{1,2}(?:/\S*?)?|\S*/\S*?)(\[[^\]]*\])?(\s*;.*|\s+.*)?$")
URL = re.compile(r"^[a-z][a-z0-9+.-]*://|^[a-z][a-z0-9+.-]*\+", re.I)
COMMENT = re.compile(r"(^|\s+)#.*$")


def flatten_requirements(path: Path) -> tuple[list[str], tuple[Path, ...]]:
    """Every line of path and the files it includes, and the files read, in order."""
    read: list[Path] = []
    return _flatten(path.resolve(), read, ()), tuple(read)


def _flatten(path: Path, read: list[Path], chain: tuple[Path, ...]) -> list[str]:
    if path in chain:
        cycle = " -> ".join(p.name for p in (*chain, path))
        raise BuildError(f"The requirements files include each other in a cycle: {cycle}.")
    read.append(path)
    lines: list[str] = []
    for number, line in _logical_lines(path):
        included = INCLUDE.match(line)
        if included:
            target = _existing(path, number, included[2])
            lines.extend(_flatten(target, read, (*chain, path)))
        else:
            lines.append(_absolute(path, number, line))
    return lines


def _logical_lines(path: Path) -> list[tuple[int, str]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BuildError(f"The requirements file {str(path)!r} could not be read: {exc}.") from None
    result: list[tuple[int, str]] = []
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        pending, start = (pending + raw, start or number)
        if pending.endswith("\\"):  # pip's line continuation
            pending = pending[:-1]
            continue
        line = COMMENT.sub("", pending).strip()
        if line:
            result.append((start, line))
        pending, start = "", 0
    return result


def _absolute(path: Path, number: int, line: str) -> str:
    for pattern in (CONSTRAINT, FIND_LINKS):
        match = pattern.match(line)
        if match and not URL.match(match[2]):
            return f"{match[1]} {_existing(path, number, match[2])}"
    editable = EDITABLE.match(line)
    if editable:
        # The archive needs a copy, not a link back to the build machine's source tree.
        return _absolute(path, number, editable[2].strip())
    local = LOCAL.match(line)
    if local and not URL.match(line) and not line.startswith("-"):
        return f"{_existing(path, number, local[1])}{local[2] or ''}{local[3] or ''}"
    return line


def _existing(path: Path, number: int, name: str) -> Path:
    target = (path.parent / Path(name).expanduser()).resolve()
    if not target.exists():
        raise BuildError(
            f"{path.name}, line {number}, names {name!r}, which does not exist as "
            f"{str(target)!r}. Paths in a requirements file are taken from the file's own "
            "folder; fix the path and build again."
        )
    return target
