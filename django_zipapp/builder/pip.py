"""Every pip subprocess of the builder."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from .errors import BuildError

TAIL_LINES = 12


def pip_install(
    target: Path,
    requirements: Sequence[str],
    *,
    cwd: Path,
    echo: Callable[[str], None] | None = None,
) -> None:
    """Install requirements into target, as pip --target does, or raise BuildError."""
    command = [
        sys.executable, "-m", "pip", "install",
        "--target", str(target),
        "--no-compile",  # bytecode is written at run time, for the interpreter that runs it
        "--disable-pip-version-check",
        "--no-input",
        *requirements,
    ]  # fmt: skip
    output: list[str] = []
    with subprocess.Popen(
        command,
        cwd=cwd,
        env=_pip_environment(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line.rstrip())
            if echo is not None:
                echo(line.rstrip())
    if process.returncode != 0:
        # pip's own ERROR lines say what failed; without them, its last words.
        errors = [
            line
            for line in output
            if line.startswith("ERROR:") and not line.startswith("ERROR: Ignored the following")
        ]
        said = "\n".join(errors or output[-TAIL_LINES:])
        raise BuildError(
            f"pip could not install the dependencies (exit status {process.returncode}). "
            f"Fix the requirement it names and build again. pip said:\n{said}"
        )


def _pip_environment() -> dict[str, str]:
    environment = dict(os.environ)
    # --target installs outside any virtualenv, and must not land in the user's site.
    for name in ("PIP_REQUIRE_VIRTUALENV", "PIP_USER", "PIP_TARGET", "PIP_PREFIX"):
        environment.pop(name, None)
    # A build run with warnings turned into errors must not make pip's own warnings fatal.
    for name in ("PYTHONWARNINGS", "PYTHONDEVMODE"):
        environment.pop(name, None)
    return environment
