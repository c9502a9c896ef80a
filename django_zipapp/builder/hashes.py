"""Requirements files in pip's hash-checking mode (pip-compile --generate-hashes, uv).

There pip refuses every requirement that is not pinned with ``==`` and its hashes, so
the build cannot add the runtime's own requirements beside the file: the file must name
them itself, and then pip installs them from it, checked.
"""

from __future__ import annotations

import re
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from .errors import BuildError
from .requirements import ASGI_REQUIREMENTS, Requirements

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def added_requirements(found: Requirements, runtime: tuple[str, ...]) -> tuple[str, ...]:
    """What the build adds to the project's requirements for pip: the runtime's, unless
    the file is in hash-checking mode and names them all; refused when it misses one."""
    if found.flattened is None or "--hash" not in found.flattened:
        return runtime
    _refuse_local_folders(found)
    named = _named(found.flattened)
    missing = [line for line in runtime if _name(line) not in named]
    if missing:
        names = ", ".join(missing)
        raise BuildError(
            f"{found.source.name} pins its requirements with hashes (pip's hash-checking "
            "mode), where pip refuses any requirement without them, so the build cannot "
            f"add what the archive needs at run time and the file does not name: {names}. "
            f"Add them (or {_requiring(missing)}, which requires them) to the file it is "
            "compiled from, and compile it again (pip-compile --generate-hashes, uv pip "
            "compile --generate-hashes; in a uv project, `uv add` it and `uv export` again)."
        )
    return ()


def _refuse_local_folders(found: Requirements) -> None:
    """pip cannot check a folder's hash, and refuses it in hash-checking mode, naming the
    copy the build installs it from rather than the project's folder."""
    assert found.flattened is not None
    folders = [_folder(line) for line in found.flattened.splitlines()]
    folders = [folder for folder in folders if folder is not None]
    if folders:
        raise BuildError(
            f"{found.source.name} pins its requirements with hashes (pip's hash-checking "
            f"mode) and installs the local folder {folders[0]!r}, whose hash pip cannot "
            "check, so pip would refuse it. Build from a file without hashes (`uv export "
            "--no-hashes`, `poetry export --without-hashes`), or install that package "
            "from an index or a wheel with its hash."
        )


def _folder(line: str) -> str | None:
    # Local folders are the only lines that start with an absolute path (includes.py).
    if not line.startswith("/"):
        return None
    folder = re.split(r"[\s\[;]", line, maxsplit=1)[0]
    return folder if Path(folder).is_dir() else None


def _requiring(missing: list[str]) -> str:
    """The requirement on django-zipapp that brings what is missing: the ASGI worker
    comes with the extra "asgi" only."""
    if any(line in ASGI_REQUIREMENTS for line in missing):
        return "django-zipapp[asgi]"
    return "django-zipapp"


def _named(text: str) -> set[str]:
    found = (_NAME.match(line) for line in text.splitlines() if not line.lstrip().startswith("-"))
    return {canonicalize_name(match[1]) for match in found if match is not None}


def _name(line: str) -> str:
    try:
        return canonicalize_name(Requirement(line).name)
    except InvalidRequirement:
        return line
