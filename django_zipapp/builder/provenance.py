"""Where a build comes from: its source date, git commit and project version.

Nothing of the build machine goes in (no paths, no host name, no clock when the source
has a date of its own), so that the same sources give the same archive anywhere.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
import shutil
import subprocess
import time
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .above import folders_up_to_repository
from .errors import BuildError
from .toml_files import table_in

# Lock files of the common tools, recorded as build inputs when the project has one.
LOCK_FILES = ("pylock.toml", "uv.lock", "poetry.lock", "pdm.lock", "Pipfile.lock")
BUILDER_DISTRIBUTIONS = ("django-zipapp", "shiv", "pip", "cyclonedx-python-lib")
ZIP_EPOCH = 315532800  # zip timestamps start in 1980
NATIVE_SUFFIXES = (".so", ".pyd", ".dylib")


def source_date(root: Path) -> int:
    """SOURCE_DATE_EPOCH, else the time of the git commit, else now."""
    value = os.environ.get("SOURCE_DATE_EPOCH")
    if value is not None:
        if not value.isdigit() or int(value) < ZIP_EPOCH:
            raise BuildError(
                f"SOURCE_DATE_EPOCH must be a Unix timestamp from 1980 on, not {value!r}. "
                "Set it to the commit's time (git log -1 --format=%ct) or unset it."
            )
        return int(value)
    committed = _git(root, "log", "-1", "--format=%ct")
    if committed is not None and committed.isdigit() and int(committed) >= ZIP_EPOCH:
        return int(committed)
    return int(time.time())


def git_state(root: Path) -> dict[str, Any]:
    """The commit, and whether files under the project directory differ from it."""
    if shutil.which("git") is None:
        return {"commit": None, "dirty": None, "note": "git is not installed"}
    commit = _git(root, "rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None, "note": "not a git checkout"}
    # Untracked files count too (they may ship), unless .gitignore leaves them out.
    changes = _git(root, "status", "--porcelain", "--", ".")
    repository = _repository(root)
    return {"commit": commit, "dirty": bool(changes), "note": None, "repository": repository}


def _repository(root: Path) -> str | None:
    """Where the commit can be fetched from: the upstream's remote, else origin."""
    branch = _git(root, "branch", "--show-current")
    remote = _git(root, "config", "--get", f"branch.{branch}.remote") if branch else None
    url = _git(root, "remote", "get-url", remote or "origin")
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme and "@" in parts.netloc:
        # A token or password in the remote's URL must never reach the archive.
        parts = parts._replace(netloc=parts.netloc.rsplit("@", 1)[1])
    return urlunsplit(parts) if parts.scheme else url


def input_digests(root: Path, requirement_files: Sequence[Path]) -> list[dict[str, str]]:
    """The SHA-256 of the requirements files and of any lock file beside the project."""
    locks = [root / name for name in LOCK_FILES if (root / name).is_file()]
    inputs = []
    for path in dict.fromkeys([*requirement_files, *locks]):
        # Relative to the project, never the build machine's folders.
        name = path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        inputs.append({"name": name, "sha256": digest})
    return inputs


def builder_versions() -> dict[str, str | None]:
    """The versions of what makes the archive: they decide its bytes as much as the sources."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in BUILDER_DISTRIBUTIONS:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_top_level(folder: Path) -> Path | None:
    """The root of the git checkout that holds folder, if any."""
    top = _git(folder, "rev-parse", "--show-toplevel")
    return Path(top).resolve() if top else None


def project_name(root: Path) -> str | None:
    """The name in the project's pyproject.toml ([project] name), when it declares one."""
    name = _declared(root, "name")
    return name if name else None


def project_version(root: Path, requirements: Path | None = None) -> str | None:
    """The version in the project's pyproject.toml or setup.cfg, when it declares one:
    in the project's folder, or in a folder above it up to the one its requirements
    come from (a Pipfile or requirements.txt beside a src/ folder), never further: the
    repository above may be another project's."""
    folders = [root]
    if requirements is not None and root.is_relative_to(requirements):
        folders = [f for f in folders_up_to_repository(root) if f.is_relative_to(requirements)]
    for folder in folders:
        version = _declared(folder, "version") or _setup_cfg_version(folder)
        if version is not None:
            return version
    return None


def _setup_cfg_version(folder: Path) -> str | None:
    setup_cfg = folder / "setup.cfg"
    if not setup_cfg.is_file():
        return None
    import configparser

    parser = configparser.ConfigParser()
    try:
        parser.read(setup_cfg, encoding="utf-8")
    except configparser.Error:
        return None
    return parser.get("metadata", "version", fallback=None)


def _declared(root: Path, key: str) -> str | None:
    pyproject = root / "pyproject.toml"
    if not pyproject.is_file():
        return None
    value = table_in(pyproject, "project").get(key)
    return value if isinstance(value, str) else None


def has_native_code(site_packages: Path, left_out: Collection[str] = frozenset()) -> bool:
    """Whether a file of site_packages, outside left_out (relative paths), is native."""
    return any(
        (name.endswith(NATIVE_SUFFIXES) or ".so." in name)
        and Path(folder, name).relative_to(site_packages).as_posix() not in left_out
        for folder, _, names in os.walk(site_packages)
        for name in names
    )


def _git(root: Path, *args: str) -> str | None:
    try:
        result = subprocess.run(
            ["git", *args],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=30,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() if result.returncode == 0 else None
