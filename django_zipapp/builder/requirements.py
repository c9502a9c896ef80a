"""The project's declared dependencies, as arguments for pip."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from .errors import BuildError

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

# What the archive itself needs at run time. shiv, pip and brotli stay on the build
# machine: static files are compressed before they are packed.
RUNTIME_REQUIREMENTS = (
    "Django>=5.2",
    "dj-database-url>=2.1",
    "goodconf[yaml,toml]>=7.0",
    "gunicorn>=23.0",
    "whitenoise>=6.6",
)
DISCOVERED = ("requirements.txt", "pyproject.toml")


@dataclass(frozen=True)
class Requirements:
    source: Path
    pip_args: tuple[str, ...]


def find_requirements(root: Path, explicit: str | None) -> Requirements:
    if explicit is not None:
        path = Path(explicit)
        if not path.is_file():
            raise BuildError(
                f"The requirements file {explicit!r} does not exist. Give the path of a "
                "requirements file or a pyproject.toml with --requirements."
            )
        return read_requirements(path.resolve())
    for name in DISCOVERED:
        candidate = root / name
        if candidate.is_file() and (name != "pyproject.toml" or _project_table(candidate)):
            return read_requirements(candidate)
    raise BuildError(
        f"No dependencies were found for the project in {str(root)!r}. Add a "
        "requirements.txt there (for example with `pip freeze > requirements.txt`), list them "
        "under [project] dependencies in a pyproject.toml, or name a file with --requirements "
        "or the ZIPAPP_REQUIREMENTS setting."
    )


def read_requirements(path: Path) -> Requirements:
    if path.suffix == ".toml":
        project = _project_table(path) or {}
        dependencies = project.get("dependencies")
        if not isinstance(dependencies, list):
            raise BuildError(
                f"{str(path)!r} has no [project] dependencies list. Add one, or name a "
                "requirements file with --requirements."
            )
        return Requirements(path, tuple(str(item) for item in dependencies))
    # pip reads -r/-c includes and local paths relative to the file; it runs from its folder.
    return Requirements(path, ("-r", str(path)))


def _project_table(path: Path) -> dict[str, object] | None:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise BuildError(f"{str(path)!r} could not be read as TOML: {exc}.") from None
    project = data.get("project")
    return project if isinstance(project, dict) else None
