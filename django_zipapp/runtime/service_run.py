"""``./site.pyz systemd-run COMMAND``: run a command in the sandbox of the installed service.

The command runs through `systemd-run` with the service's own [Service] settings, read from
the unit systemd has (`systemctl cat`, drop-ins included): the same user, directories,
configuration, credentials and hardening. The user is named: a transient unit with
``DynamicUser=yes`` and no ``User=`` would get a dynamic user of its own, and systemd
would hand the service's cache and state directories over to it, leaving the running
service unable to read its own extraction and database.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shlex
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .bundle import outer_environment

if TYPE_CHECKING:
    from .archive import Archive

# What belongs to the long-running service, not to a one-off command beside it. A
# RuntimeDirectory= would even be removed when the command ends, under the service's feet.
# fmt: off
SERVICE_ONLY = frozenset({
    "Type", "NotifyAccess", "ExecStart", "ExecStartPre", "ExecStartPost", "ExecCondition",
    "ExecReload", "ExecStop", "ExecStopPost", "KillMode", "KillSignal", "TimeoutSec",
    "TimeoutStartSec", "TimeoutStopSec", "TimeoutAbortSec", "Restart", "RestartSec",
    "RestartPreventExitStatus", "RestartForceExitStatus", "SuccessExitStatus",
    "RemainAfterExit", "WatchdogSec", "PIDFile", "Sockets", "FileDescriptorStoreMax",
    "RuntimeDirectory", "RuntimeDirectoryMode", "RuntimeDirectoryPreserve", "StandardInput",
    "StandardOutput", "StandardError", "ExitType", "OOMPolicy",
})
# fmt: on


def build_parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"{prog} systemd-run",
        description="Run COMMAND (any command of this archive: migrate, createsuperuser, "
        "...) beside the running service, in its sandbox: its user, state and cache "
        "directories, configuration, credentials and hardening, as systemd has them for "
        "the installed unit. Run it as root. The files of the service keep their owner. "
        "Your shell's environment does not reach COMMAND: it gets the service's "
        "(Environment=, EnvironmentFile=, credentials); give a variable with "
        "-E NAME=VALUE, or -E NAME to pass the value your shell has.",
        allow_abbrev=False,
    )
    parser.add_argument("--unit", help="the service (default: the archive's name without .pyz)")
    parser.add_argument("-E", "--setenv", action="append", default=[], metavar="NAME[=VALUE]",
                        help="set an environment variable for COMMAND, beside the "
                        "service's; NAME alone passes your shell's value; repeatable")  # fmt: skip
    parser.add_argument("--print", action="store_true", help="print the systemd-run command "
                        "line instead of running it")  # fmt: skip
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command and its arguments")
    return parser


def run(archive: Archive, argv: list[str]) -> int:
    parser = build_parser(archive.prog)
    args = parser.parse_args(argv)
    if not args.command:
        parser.error("name the command to run, for example: migrate --noinput")
    archive_path = Path(sys.argv[0]).resolve()
    name = (args.unit or archive_path.name.removesuffix(".pyz")).removesuffix(".service")
    unit_text = _installed_unit(name)
    if unit_text is None:
        return 1
    environment = [_assignment(parser, item) for item in args.setenv]
    command = systemd_run_command(name, unit_text, archive_path, args.command, environment)
    if args.print:
        print(shlex.join(command))
        return 0
    sys.stdout.flush()
    return subprocess.run(command, env=outer_environment()).returncode


def _installed_unit(name: str) -> str | None:
    try:
        result = subprocess.run(
            ["systemctl", "cat", f"{name}.service"],
            capture_output=True,
            text=True,
            env=outer_environment(),
        )
    except FileNotFoundError:
        result = None
    if result is None or result.returncode != 0:
        print(
            f"error: systemd has no unit {name}.service to take the sandbox from. Install "
            "it first (see the systemd-unit command), or name it with --unit.",
            file=sys.stderr,
        )
        return None
    return result.stdout


def _assignment(parser: argparse.ArgumentParser, item: str) -> str:
    name, equals, value = item.partition("=")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        parser.error(f"-E/--setenv takes NAME=VALUE or NAME, not {item!r}")
    if not equals:
        if name not in os.environ:
            parser.error(f"-E {name}: {name} is not set in this shell; give -E {name}=VALUE")
        value = os.environ[name]
    return f"{name}={value}"


def systemd_run_command(
    name: str,
    unit_text: str,
    archive: Path,
    command: list[str],
    environment: Sequence[str] = (),
) -> list[str]:
    """The systemd-run line that runs `command` of `archive` as the unit `name` would,
    with `environment` (NAME=VALUE items) set beside the service's own."""
    transient = f"{name}-run-{secrets.token_hex(4)}"
    # LoadCredential= files appear there; the unit's ExecStart= named them as %d.
    credentials = f"/run/credentials/{transient}.service"
    settings = [
        (key, _expand(value, credentials, name)) for key, value in service_settings(unit_text)
    ]
    properties = [f"{key}={value}" for key, value in settings if key not in SERVICE_ONLY]
    if not any(key == "User" for key, _ in settings):
        properties.insert(0, f"User={name}")  # the dynamic user's name defaults to the unit's
    io = "--pty" if sys.stdin.isatty() and sys.stdout.isatty() else "--pipe"
    line = ["systemd-run", f"--unit={transient}", "--wait", "--collect", "--quiet", io]
    line += [f"--property={item}" for item in properties]
    line += [f"--setenv={item}" for item in environment]
    return [*line, "--", *_archive_command(settings, credentials, archive), *command]


def service_settings(unit_text: str) -> list[tuple[str, str]]:
    """The [Service] assignments of `systemctl cat`'s output, in order, drop-ins included."""
    settings, section = [], ""
    for line in _logical_lines(unit_text):
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
        elif section == "Service" and "=" in line:
            key, _, value = line.partition("=")
            settings.append((key.strip(), value.strip()))
    return settings


def _logical_lines(text: str) -> list[str]:
    lines, pending = [], ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not pending and (not stripped or stripped[0] in "#;"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1].rstrip() + " "
            continue
        lines.append(pending + stripped)
        pending = ""
    return lines


def _archive_command(settings: list[tuple[str, str]], credentials: str, archive: Path) -> list[str]:
    """The interpreter and the global options (-C ...) of the service's ExecStart=."""
    starts = [value for key, value in settings if key == "ExecStart" and value]
    argv = shlex.split(starts[-1]) if starts else []
    if argv:
        argv[0] = argv[0].lstrip("-@:+!")
    interpreter = argv[:1] if argv and Path(argv[0]).name.startswith("python") else []
    rest = argv[len(interpreter) + 1 :]
    options = rest[: rest.index("serve")] if "serve" in rest else []
    return [*interpreter, str(archive), *options]


def _expand(value: str, credentials: str, name: str) -> str:
    # systemd-run expands no specifier: those a system service's settings use, as systemd
    # would for the service (%d: the credentials directory, here the command's own).
    specifiers = {
        "d": credentials, "S": "/var/lib", "C": "/var/cache", "L": "/var/log", "t": "/run",
        "E": "/etc", "T": "/tmp", "V": "/var/tmp", "%": "%",
        "n": f"{name}.service", "N": name, "p": name.partition("@")[0],
    }  # fmt: skip
    return re.sub(r"%(.)", lambda match: specifiers.get(match[1], match[0]), value)
