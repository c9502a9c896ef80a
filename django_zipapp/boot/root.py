"""Where the archive unpacks itself: SHIV_ROOT, CACHE_DIRECTORY or the user's cache.

Reads the environment it is given; may create that one directory (and its parents) and
checks it is writable. Nothing inside it.
"""

from __future__ import annotations

import os
from pathlib import Path

from .names import CACHE_SUBDIR, BootError


def extraction_root(environ: os._Environ[str] | dict[str, str], archive_name: str) -> Path:
    """Where the archive unpacks itself: never relative, never a guess from an unset HOME.

    SHIV_ROOT when set, else systemd's CACHE_DIRECTORY, else the user's cache directory.
    """
    explicit = environ.get("SHIV_ROOT")
    if explicit:
        return _usable(Path(explicit), "SHIV_ROOT", archive_name)
    cache_directory = environ.get("CACHE_DIRECTORY")
    if cache_directory:
        # systemd lists several directories separated by colons when CacheDirectory=
        # names several; the first one is this service's own.
        return _usable(Path(cache_directory.split(":")[0]), "CACHE_DIRECTORY", archive_name)
    user_cache = _user_cache_dir(environ)
    problem = "neither XDG_CACHE_HOME nor HOME names a usable directory"
    if user_cache is not None:
        try:
            return _writable(user_cache / CACHE_SUBDIR)
        except OSError as exc:
            problem = (
                f"the user cache directory {str(user_cache)!r} is not writable ({exc.strerror})"
            )
    raise BootError(
        f"{archive_name} needs a writable directory to unpack itself into and found none: "
        f"SHIV_ROOT and CACHE_DIRECTORY are not set, and {problem}. Set SHIV_ROOT to a "
        "writable directory, or run it under systemd with CacheDirectory= set."
    )


def _user_cache_dir(environ: os._Environ[str] | dict[str, str]) -> Path | None:
    xdg = environ.get("XDG_CACHE_HOME", "")
    if os.path.isabs(xdg):
        return Path(xdg)
    home = environ.get("HOME", "")
    # A HOME of "/" is what services without a home get; ~/.cache would land at /.cache.
    if os.path.isabs(home) and Path(home) != Path("/"):
        return Path(home) / ".cache"
    return None


def _usable(path: Path, variable: str, archive_name: str) -> Path:
    if not path.is_absolute():
        raise BootError(
            f"{variable} must be an absolute path, but it is {str(path)!r}. "
            f"Set it to the absolute path of a writable directory and start {archive_name} again."
        )
    try:
        return _writable(path)
    except OSError as exc:
        raise BootError(
            f"{archive_name} cannot unpack itself into {variable}={str(path)!r}: "
            f"{exc.strerror or exc}. Point {variable} at a directory this user can write to."
        ) from None


def _writable(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    if not os.access(path, os.W_OK | os.X_OK):
        raise PermissionError(13, "Permission denied", str(path))
    return path
