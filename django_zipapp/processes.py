"""The site's processes beside the web server, as the project declares them.

``ZIPAPP_WORKERS`` names long-running workers, ``ZIPAPP_JOBS`` scheduled jobs; each runs
a command of the archive (what follows ``./site.pyz``). buildpyz bakes the checked
declaration into the build record, and ``systemd-unit`` writes a unit per worker and a
timer plus a service per job from it, so that the set is versioned with the code.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from typing import Any

from .schedules import calendar_error, timespan_error

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
# A worker's stop timeout unless declared: how long systemd lets it finish its current
# tasks after SIGTERM before it kills it.
DEFAULT_STOP_TIMEOUT = 300
WORKER_KEYS = {"command", "description", "stop_timeout"}
JOB_KEYS = {"command", "description", "schedule", "persistent", "randomized_delay", "timeout"}


class DeclarationError(ValueError):
    """A worker or job the project declared cannot be used; the message says why."""


def declared_processes(workers: Any, jobs: Any) -> dict[str, dict[str, dict[str, Any]]]:
    """The declaration in the build record's shape, or DeclarationError."""
    found = {
        "workers": {name: _worker(name, value) for name, value in _items("WORKERS", workers)},
        "jobs": {name: _job(name, value) for name, value in _items("JOBS", jobs)},
    }
    both = found["workers"].keys() & found["jobs"].keys()
    if both:
        raise DeclarationError(
            f"{sorted(both)[0]!r} names both a worker and a job; their units would share a name."
        )
    return found


def _items(setting: str, value: Any) -> list[tuple[str, Any]]:
    if not isinstance(value, dict):
        raise DeclarationError(f"ZIPAPP_{setting} must be a dict of names, not {value!r}.")
    for name in value:
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise DeclarationError(
                f"ZIPAPP_{setting} names {name!r}, which cannot be part of a unit name: use "
                "letters, digits, '-' and '_'."
            )
    return sorted(value.items())


def _worker(name: str, value: Any) -> dict[str, Any]:
    spec = _spec("WORKERS", name, value, WORKER_KEYS)
    return {
        "command": _command("WORKERS", name, spec.get("command")),
        "description": _text("WORKERS", name, "description", spec.get("description")),
        "stop_timeout": _seconds(name, spec.get("stop_timeout", DEFAULT_STOP_TIMEOUT)),
    }


def _job(name: str, value: Any) -> dict[str, Any]:
    spec = _spec("JOBS", name, value, JOB_KEYS)
    schedule = _text("JOBS", name, "schedule", spec.get("schedule"))
    if schedule is None:
        raise DeclarationError(
            f"ZIPAPP_JOBS[{name!r}] has no 'schedule': give a systemd calendar event such "
            "as 'daily' or '*-*-* 03:00:00' (OnCalendar=)."
        )
    _judge(name, "schedule", schedule, calendar_error)
    for key in ("randomized_delay", "timeout"):
        value = _text("JOBS", name, key, spec.get(key))
        if value is not None:
            _judge(name, key, value, timespan_error)
    persistent = spec.get("persistent", True)
    if not isinstance(persistent, bool):
        raise DeclarationError(f"ZIPAPP_JOBS[{name!r}]['persistent'] must be True or False.")
    return {
        "command": _command("JOBS", name, spec.get("command")),
        "description": _text("JOBS", name, "description", spec.get("description")),
        "schedule": schedule,
        "persistent": persistent,
        "randomized_delay": _text("JOBS", name, "randomized_delay", spec.get("randomized_delay")),
        "timeout": _text("JOBS", name, "timeout", spec.get("timeout")),
    }


def _judge(name: str, key: str, value: str, error: Callable[[str], str | None]) -> None:
    reason = error(value)
    if reason is not None:
        directive = {"schedule": "OnCalendar=", "randomized_delay": "RandomizedDelaySec="}
        raise DeclarationError(
            f"ZIPAPP_JOBS[{name!r}][{key!r}] is {value!r}, which systemd would refuse as "
            f"{directive.get(key, 'TimeoutStartSec=')} ({reason}), so the job's timer would "
            "never load on the hosts. Give a calendar event such as 'daily' or "
            "'Mon..Fri *-*-* 03:00:00' (see `systemd-analyze calendar`) and time spans such "
            "as '1h' or '15min'."
        )


def _spec(setting: str, name: str, value: Any, keys: set[str]) -> dict[str, Any]:
    if isinstance(value, (str, list, tuple)):
        return {"command": value}
    if not isinstance(value, dict):
        raise DeclarationError(
            f"ZIPAPP_{setting}[{name!r}] must be a command or a dict, not {value!r}."
        )
    unknown = sorted(set(value) - keys)
    if unknown:
        raise DeclarationError(
            f"ZIPAPP_{setting}[{name!r}] has {unknown[0]!r}, which is not one of "
            f"{', '.join(sorted(keys))}."
        )
    return value


def _command(setting: str, name: str, value: Any) -> list[str]:
    words = shlex.split(value) if isinstance(value, str) else value
    if (
        not isinstance(words, (list, tuple))
        or not words
        or not all(isinstance(word, str) for word in words)
    ):
        raise DeclarationError(
            f"ZIPAPP_{setting}[{name!r}] needs a 'command': what follows ./site.pyz, as a "
            "string or a list of strings, such as 'run celery -A proj worker' or "
            "['clearsessions']."
        )
    if words[0] in ("-C", "--config"):
        raise DeclarationError(
            f"ZIPAPP_{setting}[{name!r}] gives -C itself; systemd-unit passes the "
            "service's config file to every unit (give -C to systemd-unit)."
        )
    return [str(word) for word in words]


def _text(setting: str, name: str, key: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or "\n" in value:
        raise DeclarationError(
            f"ZIPAPP_{setting}[{name!r}][{key!r}] must be a one-line string, not {value!r}."
        )
    return value.strip()


def _seconds(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DeclarationError(
            f"ZIPAPP_WORKERS[{name!r}]['stop_timeout'] must be a whole number of seconds, "
            f"not {value!r}."
        )
    return value


def unknown_command(declared: dict[str, dict[str, dict[str, Any]]], known: set[str]) -> None:
    """DeclarationError for the first worker or job whose command the archive lacks."""
    for kind, setting in (("workers", "WORKERS"), ("jobs", "JOBS")):
        for name, spec in declared[kind].items():
            command = spec["command"][0]
            if command not in known:
                raise DeclarationError(
                    f"ZIPAPP_{setting}[{name!r}] runs {command!r}, which is not a command "
                    "of the archive (a Django management command of the project's "
                    "INSTALLED_APPS, or one of the archive's own such as 'run'), so its "
                    "unit would fail on every start. Correct the command's name, or add "
                    "the app that provides it to INSTALLED_APPS."
                )
