"""The interpreter and platform an archive is built for."""

from __future__ import annotations

import platform
import re
import sys
import sysconfig
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .errors import BuildError

# Wheel platform tags name the machine after the OS part; these spell it as the running
# interpreter's platform.machine() does on Linux, so that both sides compare as equal.
_TAG = re.compile(
    r"^(?:(?P<linux>manylinux_\d+_\d+|manylinux\d*|musllinux_\d+_\d+|linux)"
    r"|(?P<darwin>macosx_\d+_\d+)|(?P<win32>win))_(?P<machine>\w+)$"
)
_MACHINE_ALIASES = {"amd64": "x86_64", "arm64": "aarch64", "i386": "i686", "x86": "i686"}


def normalize_machine(machine: str) -> str:
    machine = machine.lower()
    return _MACHINE_ALIASES.get(machine, machine)


@dataclass(frozen=True)
class Target:
    """Empty: the running interpreter. Otherwise pip's --platform/--python-version."""

    platforms: tuple[str, ...] = ()
    python_version: str | None = None

    @property
    def is_native(self) -> bool:
        return not self.platforms and self.python_version is None

    @property
    def python(self) -> str:
        return self.python_version or f"{sys.version_info.major}.{sys.version_info.minor}"

    def pip_args(self) -> list[str]:
        if self.is_native:
            return []
        args = [arg for tag in self.platforms for arg in ("--platform", tag)]
        if self.python_version:
            args += ["--python-version", self.python_version]
        # pip cannot build an sdist for another interpreter or machine: wheels only.
        return [*args, "--implementation", "cp", "--only-binary=:all:"]

    def describe(self) -> dict[str, Any]:
        """What the archive records, and its boot package checks before it runs."""
        if not self.platforms:
            systems = [sys.platform]
            machines = [normalize_machine(platform.machine())]
            platform_name = sysconfig.get_platform()
        else:
            parsed = [_parse_tag(tag) for tag in self.platforms]
            systems = sorted({system for system, _ in parsed})
            machines = sorted({machine for _, machine in parsed})
            platform_name = " ".join(self.platforms)
        return {
            "python": self.python,
            "implementation": "cpython" if self.python_version else sys.implementation.name,
            "platform": platform_name,
            "os": systems,
            "machine": machines,
        }


def make_target(platforms: Sequence[str], python_version: str | None) -> Target:
    for tag in platforms:
        _parse_tag(tag)
    if python_version is not None and not re.fullmatch(r"3\.\d{1,2}", python_version):
        raise BuildError(
            f"--python-version must be a Python 3 version as X.Y, such as '3.12', "
            f"not {python_version!r}."
        )
    return Target(tuple(platforms), python_version)


def _parse_tag(tag: str) -> tuple[str, str]:
    if tag == "win32":
        return "win32", "i686"
    match = _TAG.match(tag)
    if match is None:
        raise BuildError(
            f"--platform {tag!r} is not a wheel platform tag this build understands. Give "
            "one such as 'manylinux2014_x86_64', 'manylinux_2_28_aarch64', "
            "'musllinux_1_2_x86_64', 'macosx_11_0_arm64' or 'win_amd64'."
        )
    system = next(name for name in ("linux", "darwin", "win32") if match[name])
    return system, normalize_machine(match["machine"])
