"""The project's declared dependencies, as arguments for pip."""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from .above import folders_up_to_repository
from .errors import BuildError
from .includes import flatten_requirements
from .locks import find_lock, refuse_stale_lock
from .pipfile import LOCK as PIPFILE_LOCK
from .pipfile import PIPFILE, pipfile_requirements
from .running_copy import without_running_copy
from .toml_files import read_toml, table_in

# What the archive itself needs at run time. shiv, pip and brotli stay on the build
# machine: static files are compressed before they are packed.
RUNTIME_REQUIREMENTS = (
    "Django>=5.2",
    "dj-database-url>=2.1",
    "goodconf[yaml,toml]>=7.0",
    "gunicorn>=24.0",
    "whitenoise>=6.6",
)
# A site built for ASGI (ZIPAPP_ASGI) gets the ASGI worker too, and what uvicorn needs to
# accept websockets (websockets) and to parse HTTP and run its loop in C (httptools,
# uvloop): uvicorn[standard] without its development reloader. setup.cfg's extra "asgi"
# names the same.
ASGI_REQUIREMENTS = (
    "uvicorn-worker>=0.2",
    "websockets>=13.0",
    "httptools>=0.6",
    "uvloop>=0.19; sys_platform != 'win32' and platform_python_implementation == 'CPython'",
)
DISCOVERED = ("requirements.txt", "pyproject.toml", PIPFILE)


def runtime_requirements(asgi: bool = False) -> tuple[str, ...]:
    """What the archive needs at run time besides the project's own requirements."""
    return RUNTIME_REQUIREMENTS + (ASGI_REQUIREMENTS if asgi else ())


@dataclass(frozen=True)
class Requirements:
    source: Path
    pip_args: tuple[str, ...]
    # A requirements file with its -r includes inlined and local paths made absolute,
    # each relative to the file that names it (pip takes local paths from its cwd).
    flattened: str | None = None
    files: tuple[Path, ...] = ()
    # The versions a uv.lock or poetry.lock beside a pyproject.toml locks (locks.py).
    lock: Path | None = None
    constraints: tuple[str, ...] = ()

    @property
    def described(self) -> str:
        """The file the requirements come from, and the lock that pins them."""
        if self.lock is None:
            return self.source.name
        return f"{self.source.name} (versions from {self.lock.name})"

    def install_args(self, directory: Path) -> list[str]:
        """The arguments for pip install, writing the flattened file into directory.

        Local folders are installed from clean copies made there: pip builds a project in
        its own tree, where setuptools leaves a build/ folder that keeps files deleted from
        the sources since and would put them into a later archive.
        """
        if self.flattened is None:
            if not self.constraints:
                return list(self.pip_args)
            path = directory / "constraints.txt"
            path.write_text("".join(f"{line}\n" for line in self.constraints), encoding="utf-8")
            return ["-c", str(path), *self.pip_args]
        lines = [
            _from_copy(line, directory / "local" / str(number))
            for number, line in enumerate(self.flattened.splitlines())
        ]
        path = directory / "requirements.txt"
        path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
        return ["-r", str(path)]


def _from_copy(line: str, copy: Path) -> str:
    # A local folder is the only line that starts with an absolute path (includes.py).
    if not line.startswith("/"):
        return line
    folder = re.split(r"[\s\[;]", line, maxsplit=1)[0]
    if not Path(folder).is_dir():
        return line
    copy = copy / Path(folder).name
    shutil.copytree(folder, copy, symlinks=True, ignore=_LOCAL_LEFTOVERS)
    return f"{copy}{line[len(folder) :]}"


# What a local project's own earlier builds leave in its tree.
_LOCAL_LEFTOVERS = shutil.ignore_patterns("build", "*.egg-info", "__pycache__", ".tox", ".venv")


def find_requirements(root: Path, explicit: str | None) -> Requirements:
    if explicit is not None:
        path = Path(explicit)
        if not path.is_file():
            raise BuildError(
                f"The requirements file {explicit!r} does not exist. Give the path of a "
                "requirements file or a pyproject.toml with --requirements."
            )
        return read_requirements(path.resolve())
    folders = folders_up_to_repository(root)
    for folder in folders:
        for name in DISCOVERED:
            candidate = folder / name
            if candidate.is_file() and (name != "pyproject.toml" or _lists_dependencies(candidate)):
                return read_requirements(candidate)
    raise BuildError(
        f"No dependencies were found for the project in {str(root)!r}. Add a "
        "requirements.txt there or in a folder above it up to the repository's root (for "
        "example with `pip freeze > requirements.txt`), list them "
        "under [project] dependencies in a pyproject.toml (or in a Pipfile, locked with "
        "`pipenv lock`), or name a file with --requirements "
        f"or the ZIPAPP_REQUIREMENTS setting.{_poetry_only(folders)}{_other_files(root, folders)}"
    )


def _poetry_only(folders: list[Path]) -> str:
    """What to do with a pyproject.toml whose dependencies only Poetry reads."""
    for folder in folders:
        path = folder / "pyproject.toml"
        if path.is_file() and _poetry_dependencies(path):
            return (
                f" {str(path)!r} lists them under [tool.poetry.dependencies], which only "
                "Poetry reads: move them to [project] dependencies (Poetry 2 reads those, "
                "and the build installs the versions poetry.lock locks), or export them with "
                "`poetry export --without-hashes -o requirements.txt` (the export command "
                "comes with the poetry-plugin-export plugin)."
            )
    return ""


def _poetry_dependencies(path: Path) -> bool:
    return bool(table_in(path, "tool", "poetry").get("dependencies"))


def _other_files(root: Path, folders: list[Path]) -> str:
    """The requirements files under other names that those folders hold
    (requirements/production.txt, requirements-prod.txt), which the build may not guess."""
    found = sorted(
        path
        for folder in folders
        for pattern in ("requirements/*.txt", "requirements*.txt", "requirements/*.in")
        for path in folder.glob(pattern)
        if path.is_file()
    )
    if not found:
        return ""
    names = [os.path.relpath(path, root) for path in found]
    example = next((name for name in names if "prod" in name), names[0])
    return (
        f" The project directory has these, under other names: {', '.join(names)}. Name the "
        f"one the server needs: `python manage.py buildpyz --requirements {example}`."
    )


def read_requirements(path: Path) -> Requirements:
    if path.suffix == ".toml":
        return _from_pyproject(path)
    if path.name in (PIPFILE, PIPFILE_LOCK):
        return _from_pipfile(path.with_name(PIPFILE))
    lines, files = flatten_requirements(path)
    hashed = any("--hash" in line for line in lines)
    flattened = "".join(f"{line}\n" for line in without_running_copy(lines, hashed))
    return Requirements(path, ("-r", str(path)), flattened, files)


def _from_pipfile(pipfile: Path) -> Requirements:
    lock = pipfile.with_name(PIPFILE_LOCK)
    lines = without_running_copy(pipfile_requirements(pipfile))
    flattened = "".join(f"{line}\n" for line in lines)
    return Requirements(lock, ("-r", str(lock)), flattened, (pipfile, lock))


def _from_pyproject(path: Path) -> Requirements:
    project = _project_table(path) or {}
    dependencies = project.get("dependencies")
    if not isinstance(dependencies, list):
        raise BuildError(
            f"{str(path)!r} has no [project] dependencies list. Add one, or name a "
            "requirements file with --requirements."
        )
    # PDM writes a local folder as `file:///${PROJECT_ROOT}/libs/helper`, which it
    # expands itself and pip does not.
    root = path.parent.as_posix().lstrip("/")
    lines = tuple(
        without_running_copy([str(i).replace("${PROJECT_ROOT}", root) for i in dependencies])
    )
    lock = find_lock(path)
    if lock is None:
        return Requirements(path, lines)
    refuse_stale_lock(lock, lines, path)
    return Requirements(
        path, lines, files=(path, lock.path), lock=lock.path, constraints=lock.constraints()
    )


def _lists_dependencies(path: Path) -> bool:
    """Whether a pyproject.toml found beside the project declares its dependencies: one
    whose [project] table only names the project (a version for the build record, with
    the dependencies in a requirements.txt or Pipfile) is not a source of them."""
    project = _project_table(path)
    if project is None:
        return False
    dynamic = project.get("dynamic")
    return "dependencies" in project or (isinstance(dynamic, list) and "dependencies" in dynamic)


def _project_table(path: Path) -> dict[str, object] | None:
    project = read_toml(path).get("project")
    return project if isinstance(project, dict) else None
