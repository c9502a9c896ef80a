"""The units of the site's workers and scheduled jobs, written beside the web service.

Each is made from the web service's own unit: the same sandbox, user, configuration,
credentials and directories (so that all of them share one extraction in the cache
directory and one state directory), with the lines about serving HTTP replaced by the
process's own. Whatever the web unit gains, they gain too.
"""

from __future__ import annotations

import shlex
from typing import Any

from .unit_syntax import command_line

# Lines of the web service that are about gunicorn or its socket, not about the site.
WEB_ONLY = (
    "Description=",
    "Requires=",
    "Type=",
    "NotifyAccess=",
    "ExecStart=",
    "ExecReload=",
    "KillMode=",
    "TimeoutStopSec=",
    "RuntimeDirectory=",
)


def process_units(web_unit: str, name: str, processes: dict[str, Any]) -> dict[str, str]:
    """Unit files by name: a service per worker, a service and a timer per job."""
    shared = _shared_lines(web_unit, name)
    command = _archive_command(web_unit)
    units: dict[str, str] = {}
    for worker, spec in processes.get("workers", {}).items():
        units[f"{name}-{worker}.service"] = _worker(shared, name, worker, command, spec)
    for job, spec in processes.get("jobs", {}).items():
        units[f"{name}-{job}.service"] = _job(shared, name, job, command, spec)
        units[f"{name}-{job}.timer"] = _timer(name, job, spec)
    return units


def _archive_command(web_unit: str) -> list[str]:
    """How the web unit starts the archive, up to its command: interpreter, archive, -C."""
    (start,) = [line for line in web_unit.splitlines() if line.startswith("ExecStart=")]
    words = shlex.split(start.removeprefix("ExecStart="))
    return words[: words.index("serve")]


def _shared_lines(web_unit: str, name: str) -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {}
    current: list[str] = []
    for line in web_unit.splitlines():
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line, [])
        elif line and not line.startswith(WEB_ONLY) and line != f"After={name}.socket":
            current.append(line)
    return sections


def _worker(
    shared: dict[str, list[str]], name: str, worker: str, command: list[str], spec: dict[str, Any]
) -> str:
    description = spec.get("description") or f"{name}: worker {worker}"
    service = [
        # The web unit's dynamic user is named after it; the same name gives every unit
        # of the site the same user, so that they share the state and cache directories.
        f"User={name}",
        "Type=exec",
        f"ExecStart={_exec(command, spec['command'])}",
        # SIGTERM to the worker's main process only: it stops taking tasks and waits for
        # its children to finish theirs (Celery's warm shutdown); the rest of the group
        # is killed only after TimeoutStopSec=.
        "KillMode=mixed",
        f"TimeoutStopSec={spec['stop_timeout']}",
        f"RuntimeDirectory={name}-{worker}",
    ]
    return _unit(shared, description, service, install=True)


def _job(
    shared: dict[str, list[str]], name: str, job: str, command: list[str], spec: dict[str, Any]
) -> str:
    description = spec.get("description") or f"{name}: scheduled job {job}"
    service = [f"User={name}", "Type=oneshot", f"ExecStart={_exec(command, spec['command'])}"]
    service += ["KillMode=mixed", f"RuntimeDirectory={name}-{job}"]
    if spec.get("timeout"):
        service += [f"TimeoutStartSec={spec['timeout']}"]
    # A oneshot that fails is run again by its timer, not restarted in a loop.
    shared = {
        section: [line for line in lines if not line.startswith(("Restart=", "RestartPrevent"))]
        for section, lines in shared.items()
    }
    return _unit(shared, description, service, install=False)


def _timer(name: str, job: str, spec: dict[str, Any]) -> str:
    timer = [f"OnCalendar={spec['schedule']}", f"Persistent={_yes(spec['persistent'])}"]
    if spec.get("randomized_delay"):
        timer += [f"RandomizedDelaySec={spec['randomized_delay']}"]
    lines = [
        "[Unit]",
        f"Description={spec.get('description') or f'{name}: scheduled job {job}'} (timer)",
        "",
        "[Timer]",
        *timer,
        "",
        "[Install]",
        "WantedBy=timers.target",
    ]
    return "\n".join(lines) + "\n"


def _unit(
    shared: dict[str, list[str]], description: str, service: list[str], *, install: bool
) -> str:
    lines = ["[Unit]", f"Description={description}", *shared.get("[Unit]", [])]
    lines += ["", "[Service]", *service, *shared.get("[Service]", [])]
    if install:
        lines += ["", "[Install]", *shared.get("[Install]", [])]
    return "\n".join(lines) + "\n"


def _exec(command: list[str], arguments: list[str]) -> str:
    # The declared words are literal: no specifiers (%) or variables ($) of systemd's.
    literal = [word.replace("%", "%%").replace("$", "$$") for word in arguments]
    return command_line([*command, *literal])


def _yes(value: bool) -> str:
    return "true" if value else "false"
