"""The first code an archive runs, before anything is extracted.

The builder copies this file to the root of every archive as ``_django_zipapp_boot.py``
and makes it the archive's ``__main__``. It may import the standard library and shiv's
``_bootstrap`` (which sits beside it in the archive) and nothing else: no dependency of
the project is importable until shiv's bootstrap has extracted ``site-packages``.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import sysconfig
import zipfile
import zlib
from pathlib import Path
from typing import Any, NoReturn

# Names shared with the builder, which imports them from here.
BOOT_MODULE = "_django_zipapp_boot"
BUILD_INFO_NAME = "django_zipapp.json"
ENTRY_POINT = f"{BOOT_MODULE}:run"
CACHE_SUBDIR = "django-zipapp"
EXIT_BOOT_ERROR = 1

# Handed from main() to run(): shiv's bootstrap calls run() once it has extracted
# site-packages, and offers no other way to pass values along.
_state: dict[str, Any] = {}


class BootError(Exception):
    """A reason the archive cannot start, worded for the person who started it."""


def main() -> None:
    try:
        _prepare(Path(sys.argv[0]))
    except BootError as exc:
        _fail(str(exc))
    sys.path[:] = isolated_path(sys.path, sys.argv[0], os.environ.get("PYTHONPATH", ""))
    import _bootstrap  # type: ignore[import-not-found]  # shiv's, beside this file

    _bootstrap.bootstrap()


def run() -> int:
    """Shiv's entry point: site-packages is on sys.path from here on."""
    # Everything the site imports is in the extracted site-packages now. Left on sys.path,
    # the archive would make every scan of sys.path (entry points, plugin discovery) walk
    # all of its entries.
    archive = os.path.abspath(sys.argv[0])
    sys.path[:] = [entry for entry in sys.path if os.path.abspath(entry) != archive]
    from django_zipapp.runtime import main as runtime_main

    return runtime_main(_state["build"], _state["site_packages"], sys.argv[1:])


def _prepare(archive_path: Path) -> None:
    try:
        with zipfile.ZipFile(archive_path) as archive:
            build = json.loads(archive.read(BUILD_INFO_NAME))
            environment = json.loads(archive.read("environment.json"))
    except (OSError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise BootError(
            f"{archive_path.name} is damaged or is not an archive built by django-zipapp "
            f"({type(exc).__name__}). Download or build it again."
        ) from None
    check_target(build, archive_path.name)
    root = extraction_root(os.environ, archive_path.name)
    # shiv's bootstrap reads SHIV_ROOT; children (gunicorn re-exec, subprocesses) inherit
    # it and so share the same extraction.
    os.environ["SHIV_ROOT"] = str(root)
    extraction = root / f"{archive_path.resolve().name}_{environment['build_id']}"
    if not (extraction / "site-packages").is_dir():
        check_intact(archive_path)
    _state["build"] = build
    _state["site_packages"] = extraction / "site-packages"


def isolated_path(path: list[str], archive: str, pythonpath: str) -> list[str]:
    """sys.path without the interpreter's own site-packages and what their .pth files add.

    The archive runs what it carries, whatever the interpreter that starts it has
    installed: a dependency missing from the archive fails on every host alike. The
    standard library, PYTHONPATH (the operator's explicit choice) and the archive stay.
    """
    stdlib = [sysconfig.get_path(name) for name in ("stdlib", "platstdlib")]
    explicit = {os.path.abspath(entry) for entry in pythonpath.split(os.pathsep) if entry}
    explicit.add(os.path.abspath(archive))

    def keep(entry: str) -> bool:
        absolute = os.path.abspath(entry)
        if absolute in explicit:
            return True
        if {"site-packages", "dist-packages"} & set(Path(absolute).parts):
            return False
        # The standard library's own folders, and its zip (lib/python3XY.zip).
        return any(_is_within(absolute, root) for root in stdlib) or _is_stdlib_zip(absolute)

    return [entry for entry in path if keep(entry)]


def _is_within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _is_stdlib_zip(path: str) -> bool:
    name = f"python{sys.version_info.major}{sys.version_info.minor}.zip"
    return os.path.basename(path) == name and _is_within(path, sys.base_prefix)


def check_target(build: dict[str, Any], archive_name: str) -> None:
    """Refuse an interpreter or machine the archive's dependencies were not built for."""
    machines = build.get("machine")
    running = f"{sys.platform} {_machine()}"
    # Pure Python runs on any machine.
    if (
        not build.get("native")
        or not machines
        or any(f"{system} {machine}" == running for system in build["os"] for machine in machines)
    ):
        check_python(build, archive_name)
        return
    built_for = f"{build['implementation']} {build['python']} on {build['platform']}"
    raise BootError(
        f"{archive_name} was built for {built_for} and cannot run on "
        f"{sys.implementation.name} {_running_python()} on {running} ({sys.executable}): "
        "its compiled extensions are for that platform only. Run it there, or rebuild it "
        "for this one."
    )


def check_intact(archive_path: Path) -> None:
    """Read every entry before unpacking any: a damaged one stops the start, not halfway."""
    try:
        bad = _first_bad_entry(archive_path)
    except (OSError, zipfile.BadZipFile, EOFError, ValueError) as exc:
        bad, reason = "", f"it cannot be read ({exc})"
    else:
        reason = f"its entry {bad!r} does not match its CRC-32 checksum"
    if bad is None:
        return
    size, built = archive_path.stat().st_size, _launcher_size(archive_path)
    sizes = f"{size} bytes" + (
        "" if built is None else ", as built" if built == size else f"; built with {built}"
    )
    raise BootError(
        f"{archive_path.name} is damaged: {reason} (the file has {sizes}). Download or build "
        "it again; nothing was unpacked."
    )


def _first_bad_entry(archive_path: Path) -> str | None:
    with zipfile.ZipFile(archive_path) as archive:
        for info in archive.infolist():
            try:
                with archive.open(info) as entry:
                    while entry.read(1 << 20):  # zipfile checks the CRC-32 at the end
                        pass
            except (zipfile.BadZipFile, zlib.error, EOFError):
                return info.filename
    return None


def _launcher_size(archive_path: Path) -> int | None:
    with archive_path.open("rb") as file:
        first = file.readline(300)
    for part in first.split(b";"):
        if part.startswith(b"s=") and part[2:].strip().isdigit():
            return int(part[2:])
    return None


def _machine() -> str:
    machine = platform.machine().lower()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)


def _running_python() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def check_python(build: dict[str, Any], archive_name: str) -> None:
    built_for = build["python"]
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    implementation = build.get("implementation", "cpython")
    if built_for == running and implementation == sys.implementation.name:
        return
    raise BootError(
        f"{archive_name} was built for {implementation} {built_for} and cannot run on "
        f"{sys.implementation.name} {running} ({sys.executable}): its dependencies are "
        f"installed for {built_for} only. Start it with python{built_for} "
        f"(python{built_for} {archive_name} ...), or rebuild it with Python {running}."
    )


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


def _fail(message: str) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(EXIT_BOOT_ERROR)
