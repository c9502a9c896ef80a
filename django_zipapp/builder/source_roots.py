"""Folders inside the project that hold its packages, such as ``src/`` in a src layout.

``manage.py`` (or an installed pyproject) puts such a folder on ``sys.path``; the archive
keeps it where it was under ``BASE_DIR`` and puts it on ``sys.path`` again at run time, so
that ``Path(__file__)`` in the settings gives the same ``BASE_DIR`` as in the source tree.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

# A folder on sys.path under one of these belongs to an environment, not to the project.
_ENVIRONMENT_PARTS = frozenset({"site-packages", "dist-packages"})


def source_roots(root: Path, path: Sequence[str] | None = None) -> tuple[PurePosixPath, ...]:
    """The folders strictly inside the project root that are on sys.path, outermost first."""
    found: list[PurePosixPath] = []
    for entry in sys.path if path is None else path:
        folder = Path(entry or ".").resolve()
        if folder == root or not folder.is_relative_to(root) or not folder.is_dir():
            continue
        relative = PurePosixPath(folder.relative_to(root).as_posix())
        if _is_environment(relative) or relative in found:
            continue
        found.append(relative)
    return tuple(found)


def locate(root: Path, roots: Sequence[PurePosixPath], name: str) -> str | None:
    """Where the top-level package or module ``name`` lives, relative to the project root."""
    for folder in (PurePosixPath(), *roots):
        base = root / folder
        if (base / name / "__init__.py").is_file() or (base / f"{name}.py").is_file():
            return (folder / name).as_posix()
    return None


def _is_environment(relative: PurePosixPath) -> bool:
    # A virtualenv inside the project (.venv/lib/python3.12/site-packages) or a tool's cache.
    return any(part in _ENVIRONMENT_PARTS or part.startswith(".") for part in relative.parts)
