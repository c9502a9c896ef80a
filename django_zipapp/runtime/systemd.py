"""``./site.pyz systemd-unit``: a hardened systemd service (and socket) for this archive.

Needs no configuration: the unit is written for the archive's real path, and the site's
configuration is only named (a file, an environment file), never read.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .bundle import bundled_interpreter
from .process_units import process_units
from .unit_syntax import command_line, quote

if TYPE_CHECKING:
    from .archive import Archive

UNIT_NAME = re.compile(r"[A-Za-z0-9:_.\\-]+")
DEFAULT_BIND = "127.0.0.1:8000"  # serve's, and the socket's when --bind is not given

# What every unit gets: the sandbox a Django site keeps working in. Each line is scored
# by `systemd-analyze security`; see docs/systemd.rst for why each one holds.
HARDENING = """\
DynamicUser=yes
UMask=0077
NoNewPrivileges=yes
CapabilityBoundingSet=
AmbientCapabilities=
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
DevicePolicy=closed
PrivateUsers=yes
PrivateIPC=yes
ProtectHostname=yes
ProtectClock=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectProc=invisible
ProcSubset=pid
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
RemoveIPC=yes
KeyringMode=private
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallFilter=~@privileged @resources
SystemCallErrorNumber=EPERM
PrivateMounts=yes
"""


def build_parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"{prog} systemd-unit",
        description="Print a hardened systemd service unit for this archive at its real path "
        "(and with --socket a socket unit too). Give the global -C FILE before the command "
        "to have the service read that config file.",
        allow_abbrev=False,
    )
    parser.add_argument("--socket", action="store_true", help="socket activation: systemd "
                        "listens and hands the socket to serve")  # fmt: skip
    parser.add_argument(
        "--no-network",
        action="store_true",
        help="the site makes no network connections of its own (SQLite, no TCP database, "
        "no outgoing mail): PrivateNetwork=yes; needs --socket",
    )
    parser.add_argument("--name", help="unit name (default: the archive's name without .pyz)")
    parser.add_argument("--description", help="the unit's Description=")
    parser.add_argument(
        "--bind",
        metavar="HOST:PORT",
        help="where to listen: serve --bind (default: none, so that SERVE_BIND of the "
        f"configuration decides), or the socket's ListenStream= (default {DEFAULT_BIND})",
    )
    parser.add_argument("--env-file", metavar="PATH", help="an EnvironmentFile= for the site's "
                        "settings and secrets, read by systemd as root")  # fmt: skip
    parser.add_argument(
        "--writable",
        action="append",
        default=[],
        metavar="PATH",
        help="a path the site writes to besides its state and cache directories (media "
        "uploads...): ReadWritePaths=, repeatable",
    )
    parser.add_argument(
        "--setenv",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an environment variable for the service: Environment=, repeatable; systemd "
        "specifiers work (%%S/NAME is the state directory, %%C/NAME the cache directory)",
    )
    parser.add_argument(
        "--ip-allow",
        action="append",
        default=[],
        metavar="ADDRESS",
        help="with network: the only addresses the service may talk to besides localhost "
        "(the database server, a proxy in front): IPAddressAllow=, repeatable",
    )
    parser.add_argument("--python", metavar="PATH", help="the interpreter in ExecStart= "
                        "(default: the one running this command)")  # fmt: skip
    parser.add_argument("--directory", metavar="DIR", help="write NAME.service (and "
                        "NAME.socket) into DIR instead of printing them, with the units "
                        "of the workers and jobs the project declares")  # fmt: skip
    return parser


def run(archive: Archive, argv: list[str]) -> int:
    parser = build_parser(archive.prog)
    args = parser.parse_args(argv)
    if args.no_network and args.ip_allow:
        parser.error("--ip-allow and --no-network contradict each other")
    for assignment in args.setenv:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", assignment):
            parser.error(f"--setenv takes NAME=VALUE, not {assignment!r}")
    if args.no_network and not args.socket:
        parser.error("--no-network needs --socket: with no network of its own, serve can only "
                     "answer on a socket that systemd opens for it")  # fmt: skip
    archive_path = Path(sys.argv[0]).resolve()
    name = args.name or archive_path.name.removesuffix(".pyz")
    if not UNIT_NAME.fullmatch(name):
        parser.error(f"{name!r} cannot be a unit name: use letters, digits and ':_.-\\' only")
    units = {f"{name}.service": service_unit(archive, archive_path, name, args)}
    if args.socket:
        units[f"{name}.socket"] = socket_unit(name, args)
    # The workers and scheduled jobs the project declared (ZIPAPP_WORKERS, ZIPAPP_JOBS).
    processes = archive.build.get("processes", {})
    others = process_units(units[f"{name}.service"], name, processes)
    bundled = args.python is None and bundled_interpreter(archive_path) is not None
    python = () if bundled else (Path(args.python or sys.executable),)
    _warn_about_hidden_paths(archive_path, *python)
    _warn_about_another_python(args.python, archive.build)
    if args.directory:
        return _write(Path(args.directory), {**units, **others})
    # The way `systemctl cat` shows several units: a comment naming each file.
    print("\n".join(f"# {filename}\n{text}" for filename, text in units.items()), end="")
    if others:
        # Printed, they would end up in the web service's file: only written apart.
        print(f"note: this site also declares {', '.join(others)}; --directory DIR "
              "writes them beside the web service.", file=sys.stderr)  # fmt: skip
    return 0


def _write(directory: Path, units: dict[str, str]) -> int:
    for filename, text in units.items():
        try:
            (directory / filename).write_text(text)
        except OSError as exc:
            print(
                f"error: cannot write {str(directory / filename)!r}: {exc.strerror}. "
                "Give --directory an existing directory you can write to.",
                file=sys.stderr,
            )
            return 1
        print(f"Wrote {directory / filename}")
    return 0


def service_unit(archive: Archive, archive_path: Path, name: str, args: argparse.Namespace) -> str:
    description = args.description or f"{archive.build.get('project') or name} ({archive_path})"
    launch = [args.python or sys.executable, str(archive_path)]
    if args.python is None and bundled_interpreter(archive_path) is not None:
        launch = [str(archive_path)]  # the file runs itself: its launcher starts its Python
    command = list(launch)
    unit = ["[Unit]", f"Description={description}"]
    if args.socket:
        unit += [f"Requires={name}.socket", f"After={name}.socket"]
    if not args.no_network:
        # A TCP database must be reachable before the first request.
        unit += ["Wants=network-online.target", "After=network-online.target"]
    service = ["", "[Service]", "Type=notify"]
    # On reload gunicorn starts a new master from the archive on disk, which tells
    # systemd its PID (MAINPID=) before the old master stops.
    service += ["NotifyAccess=all"]
    if archive.config_file:
        config = Path(archive.config_file).resolve()
        # systemd reads the file as root and hands a private copy to the service: the
        # file itself can stay readable by root only. Its extension tells its format.
        service += [f"LoadCredential=config{config.suffix}:{config}"]
        command += ["-C", f"%d/config{config.suffix}"]
    command += ["serve"]
    # Only when asked: a --bind here would win over SERVE_BIND in the site's configuration,
    # which is where a site says where it listens.
    if args.bind and not args.socket:
        command += ["--bind", args.bind]
    service += [f"ExecStart={command_line(command)}"]
    # The new build is unpacked first, while the old one serves: the new master that
    # USR2 starts then finds it ready and starts warm.
    # Started the way ExecStart= starts the archive: a bundled archive by its own
    # launcher, never by the interpreter that wrote the unit (the build machine's).
    prepare = [*launch, "prepare"]
    service += [f"ExecReload={command_line(prepare)}"]
    service += ["ExecReload=/bin/kill -s USR2 $MAINPID", "KillMode=mixed", "TimeoutStopSec=35"]
    service += ["Restart=on-failure", "RestartPreventExitStatus=78"]
    if args.env_file:
        service += [f"EnvironmentFile={Path(args.env_file).resolve()}"]
    service += [f"Environment={quote(assignment)}" for assignment in args.setenv]
    # The state directory holds the SQLite database and, in media/, the uploads (the
    # default MEDIA_ROOT of ZipappConfig, made by the first upload). One directory only:
    # with two, STATE_DIRECTORY would list both, and settings that read it would break.
    service += [f"StateDirectory={name}", f"CacheDirectory={name}", f"RuntimeDirectory={name}"]
    service += [f"ReadWritePaths={Path(path).resolve()}" for path in args.writable]
    service += HARDENING.splitlines() + _network(args)
    install = ["", "[Install]", "WantedBy=multi-user.target"]
    return "\n".join(unit + service + install) + "\n"


def _network(args: argparse.Namespace) -> list[str]:
    if args.no_network:
        # The socket comes from systemd; the service itself needs AF_UNIX for sd_notify.
        return ["PrivateNetwork=yes", "IPAddressDeny=any", "RestrictAddressFamilies=AF_UNIX"]
    lines = ["RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6"]
    if args.ip_allow:
        lines += [f"IPAddressAllow=localhost {' '.join(args.ip_allow)}", "IPAddressDeny=any"]
    return lines


def socket_unit(name: str, args: argparse.Namespace) -> str:
    lines = [
        "[Unit]",
        f"Description={args.description or name} socket",
        "",
        "[Socket]",
        f"ListenStream={args.bind or DEFAULT_BIND}",
        # The service takes over the listening socket; new connections wait in its
        # backlog during a reload or restart instead of being refused.
        "",
        "[Install]",
        "WantedBy=sockets.target",
    ]
    return "\n".join(lines) + "\n"


def _warn_about_hidden_paths(*paths: Path) -> None:
    for path in paths:
        if path.parts[1:2] in (("home",), ("root",)) or path.parts[1:3] == ("run", "user"):
            print(
                f"warning: {path} is under /{path.parts[1]}, which ProtectHome=yes hides from "
                "the service; install it elsewhere (/srv, /opt, /usr/local) or give --python.",
                file=sys.stderr,
            )


# What the interpreter --python names says of its version, as the build record has it.
VERSION_SCRIPT = "import sys; print('%d.%d' % sys.version_info[:2])"


def _warn_about_another_python(python: str | None, build: dict[str, Any]) -> None:
    """An interpreter of another Python than the archive's stops the service at its first
    start (Debian 12's /usr/bin/python3 is 3.11): said now, when it can be run here."""
    wanted = build.get("python")
    if python is None or not wanted:
        return
    try:
        found = subprocess.run(
            [python, "-c", VERSION_SCRIPT], capture_output=True, text=True, timeout=30
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return  # the server's path, not this machine's: nothing to say
    if found and found != wanted:
        print(
            f"warning: {python} is Python {found}, but this archive was built for Python "
            f"{wanted}, under which alone it starts: give --python a Python {wanted}.",
            file=sys.stderr,
        )
