"""Whether this interpreter may run the archive, and the sys.path it runs with.

Reads the build record it is given, the running interpreter's version and platform, and
sysconfig's paths; touches no file. isolated_path() only computes a list: the caller sets
sys.path.
"""

from __future__ import annotations

import os
import platform
import sys
import sysconfig
from pathlib import Path
from typing import Any

from .names import BootError


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
