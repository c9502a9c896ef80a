"""Where a build comes from: its source date, git commit and project version.

Nothing of the build machine goes in (no paths, no host name, no clock when the source
has a date of its own), so that the same sources give the same archive anywhere.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .errors import BuildError

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

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
    return {"commit": commit, "dirty": bool(changes), "note": None}


def git_top_level(folder: Path) -> Path | None:
    """The root of the git checkout that holds folder, if any."""
    top = _git(folder, "rev-parse", "--show-toplevel")
    return Path(top).resolve() if top else None


def project_version(root: Path) -> str | None:
    """The version in the project's pyproject.toml or setup.cfg, when it declares one."""
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        try:
            version = tomllib.loads(pyproject.read_text()).get("project", {}).get("version")
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            version = None
        if isinstance(version, str):
            return version
    setup_cfg = root / "setup.cfg"
    if setup_cfg.is_file():
        import configparser

        parser = configparser.ConfigParser()
        try:
            parser.read(setup_cfg, encoding="utf-8")
        except configparser.Error:
            return None
        return parser.get("metadata", "version", fallback=None)
    return None


def has_native_code(site_packages: Path) -> bool:
    return any(
        name.endswith(NATIVE_SUFFIXES) or ".so." in name
        for _, _, names in os.walk(site_packages)
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
