"""Reading the TOML files a project names its dependencies in: pyproject.toml, a Pipfile,
uv.lock, poetry.lock and pdm.lock. Reads the file it is given, nothing else."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from .errors import BuildError

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib


def read_toml(path: Path) -> dict[str, Any]:
    """The file's top-level table; BuildError, in one sentence, when it cannot be read."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise BuildError(f"{str(path)!r} could not be read as TOML: {exc}.") from None


def table(data: dict[str, Any], *keys: str) -> dict[str, Any]:
    """The table under those keys (``table(data, "tool", "uv")``), empty where there is none."""
    for key in keys:
        found = data.get(key)
        data = found if isinstance(found, dict) else {}
    return data


def table_in(path: Path, *keys: str) -> dict[str, Any]:
    """table() of a file that need not be readable: empty when it is not (a hint's source)."""
    try:
        return table(read_toml(path), *keys)
    except BuildError:
        return {}
