"""Every pip subprocess of the builder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .errors import BuildError
from .markers import missing_requirements, oldest_environment

TAIL_LINES = 12


def pip_install(
    target: Path,
    requirements: Sequence[str],
    *,
    cwd: Path,
    echo: Callable[[str], None] | None = None,
    target_args: Sequence[str] = (),
) -> None:
    """Install requirements into target, as pip --target does, or raise BuildError."""
    _run_pip(["--target", str(target), *target_args, *requirements], cwd, echo)


class Resolution:
    """A `pip install --dry-run --report` running in the background.

    Resolving mostly waits on the package index, so the build copies the project and
    collects static files meanwhile.
    """

    def __init__(
        self,
        requirements: Sequence[str],
        *,
        cwd: Path,
        target_args: Sequence[str],
        python: str,
    ):
        self._folder = tempfile.TemporaryDirectory(prefix="buildpyz-resolve-")
        self._report = Path(self._folder.name, "report.json")
        # --target makes pip ignore what the running environment has installed.
        self._arguments = ["--dry-run", "--report", str(self._report), "--quiet"]
        self._arguments += ["--target", str(Path(self._folder.name, "unused")), *target_args]
        self._requirements = list(requirements)
        self._cwd = cwd
        self._python = python
        # What the archive's oldest Python needs besides: pip install must be given it too.
        self.extra: list[str] = []
        self._done = False
        # pip's own temporary folders inside this one: a resolution cancelled (the build
        # failed or was stopped) kills pip, which then cannot remove them itself.
        self._temporary = Path(self._folder.name, "tmp")
        self._temporary.mkdir()
        self._process = _start_pip([*self._arguments, *self._requirements], cwd, self._temporary)

    def result(self) -> list[dict[str, Any]]:
        """pip's report of every distribution it would install, on any release of the
        archive's Python (see markers.py: self.extra names what that added)."""
        self._done = True
        try:
            resolved = self._wait()
            environment = oldest_environment(self._python)
            # Each round may bring requirements of its own; three cover any real chain.
            for _ in range(3):
                missing = missing_requirements(resolved, environment)
                if not missing:
                    break
                self.extra += missing
                args = [*self._arguments, *self._requirements, *self.extra]
                self._process = _start_pip(args, self._cwd, self._temporary)
                resolved = self._wait()
            return resolved
        finally:
            self._folder.cleanup()

    def _wait(self) -> list[dict[str, Any]]:
        output, _ = self._process.communicate()
        _raise_for(self._process.returncode, output.splitlines())
        report = json.loads(self._report.read_text(encoding="utf-8"))
        return list(report["install"])

    def cancel(self) -> None:
        if self._done:
            return
        self._done = True
        self._process.kill()
        self._process.communicate()
        self._folder.cleanup()


def pip_version() -> str:
    from importlib.metadata import version

    return version("pip")


def can_report() -> bool:
    """Whether this pip writes `install --dry-run --report` (pip 22.2 and later)."""
    major, minor, *_ = (int(part) if part.isdigit() else 0 for part in pip_version().split("."))
    return (major, minor) >= (22, 2)


def _start_pip(
    arguments: list[str], cwd: Path, temporary: Path | None = None
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        _pip_command(arguments),
        cwd=cwd,
        env=_pip_environment(temporary),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _run_pip(arguments: list[str], cwd: Path, echo: Callable[[str], None] | None) -> None:
    output: list[str] = []
    with _start_pip(arguments, cwd) as process:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line.rstrip())
            if echo is not None:
                echo(line.rstrip())
    _raise_for(process.returncode, output)


def _pip_command(arguments: list[str]) -> list[str]:
    return [
        sys.executable, "-m", "pip", "install",
        "--no-compile",  # bytecode is written at run time, for the interpreter that runs it
        "--disable-pip-version-check",
        "--no-input",
        *arguments,
    ]  # fmt: skip


def _raise_for(returncode: int, output: list[str]) -> None:
    if returncode == 0:
        return
    # pip's own ERROR lines say what failed, with the indented lines that go on with
    # them (the requirements they list); without them, its last words.
    errors = _error_lines(output)
    said = "\n".join(errors or output[-TAIL_LINES:])
    raise BuildError(
        f"pip could not install the dependencies (exit status {returncode}). "
        f"Fix the requirement it names and build again. pip said:\n{said}"
    )


def _error_lines(output: list[str]) -> list[str]:
    errors: list[str] = []
    inside = False
    for line in output:
        if line.startswith("ERROR:"):
            inside = not line.startswith("ERROR: Ignored the following")
        elif not line[:1].isspace():
            inside = False
        if inside:
            errors.append(line)
    return errors


def _pip_environment(temporary: Path | None = None) -> dict[str, str]:
    environment = dict(os.environ)
    if temporary is not None:
        environment["TMPDIR"] = str(temporary)
    # --target installs outside any virtualenv, and must not land in the user's site.
    for name in ("PIP_REQUIRE_VIRTUALENV", "PIP_USER", "PIP_TARGET", "PIP_PREFIX"):
        environment.pop(name, None)
    # A build run with warnings turned into errors must not make pip's own warnings fatal.
    for name in ("PYTHONWARNINGS", "PYTHONDEVMODE"):
        environment.pop(name, None)
    return environment
