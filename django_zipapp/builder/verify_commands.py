"""The new archive's commands, as the verification runs them, and how their failures read.

Every failure is a VerificationFailed: what failed, the archive's own output (its last
lines are quoted) and a hint that the verification may complete before it is raised.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from .errors import BuildError

COMMAND_TIMEOUT = 600
OUTPUT_TAIL = 40  # lines of the server's own output quoted in the error
# sysexits' EX_CONFIG, as the archive exits on an invalid configuration.
EXIT_CONFIG_ERROR = 78
# sysexits' EX_UNAVAILABLE, as the archive exits when it cannot connect to its database.
EXIT_UNAVAILABLE = 69
CONFIG_HINT = (
    "The verification gives the archive a throwaway SECRET_KEY, DATABASE_URL and state "
    "directory, and nothing else: give a value for each other required field it names "
    "with --verify-env NAME=VALUE or in ZIPAPP_VERIFY_ENV (for example "
    "{'API_TOKEN': 'verification'}). "
)
CONFIG_INVALID = "error: The configuration is invalid"


class VerificationFailed(BuildError):
    """The new archive failed a step; the message quotes what it said."""

    def __init__(self, what: str, output: str, hint: str = "") -> None:
        super().__init__(what)
        self.what, self.output, self.hint = what, output, hint

    def __str__(self) -> str:
        return failed(self.what, self.output, self.hint)


def run(archive: Path, env: dict[str, str], *args: str) -> str:
    return finish(start(archive, env, *args), " ".join(args))


def start(archive: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(archive), *args],
        env=env,
        cwd="/",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )


def finish(process: subprocess.Popen[str], command: str) -> str:
    try:
        stdout, stderr = process.communicate(timeout=COMMAND_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise VerificationFailed(f"`{command}` did not finish in {COMMAND_TIMEOUT} s", "") from None
    if process.returncode == EXIT_CONFIG_ERROR:
        # The archive's own refusal: a field only the server gives, DEBUG on...
        if CONFIG_INVALID in stderr:
            what = f"`{command}` found its configuration invalid"
            raise VerificationFailed(what, stderr, CONFIG_HINT)
        said = error_line(stderr)
        raise VerificationFailed(f"`{command}` refused to start{said}", stderr)
    if process.returncode == EXIT_UNAVAILABLE:
        raise VerificationFailed(f"`{command}` could not connect to its database", stderr)
    if process.returncode != 0:
        said = f"{stdout}\n{stderr}"
        raise VerificationFailed(f"`{command}` exited with {process.returncode}", said)
    return stdout


def error_line(output: str) -> str:
    """The archive's own error line (``error: ...``), as the end of a sentence."""
    lines = [line for line in output.splitlines() if line.startswith("error: ")]
    if not lines:
        return ""
    # Its first clause: the whole line is quoted below the message.
    said = re.split(r"; |\. ", lines[-1].removeprefix("error: "))[0].rstrip(".")
    return f": {said}"


def failed(what: str, output: str, hint: str = "") -> str:
    tail = "\n".join(output.strip().splitlines()[-OUTPUT_TAIL:])
    said = f" It said:\n{tail}" if tail else ""
    return (
        f"The new archive failed its verification, started as production would: {what}, "
        f"so it was not written to the output path. {hint}Fix what the output names (the "
        "same happens on the server), or build with --no-verify (ZIPAPP_VERIFY = False) to "
        f"skip this step.{said}"
    )
