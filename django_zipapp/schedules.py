"""Schedules and time spans checked as systemd would read them, at build time.

A timer whose ``OnCalendar=`` or ``RandomizedDelaySec=`` systemd rejects never loads on the
host, so the build refuses it. Where ``systemd-analyze`` is on the build machine it judges
(the same parser as systemd's); elsewhere the grammar of systemd.time(7) below does.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

SHORTHANDS = {
    "minutely", "hourly", "daily", "monthly", "weekly", "yearly", "annually",
    "quarterly", "semiannually",
}  # fmt: skip
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKDAY_NAMES = {*WEEKDAYS, "monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
                 "sunday"}  # fmt: skip
UNITS = [
    "usec",
    "us",
    "µs",
    "msec",
    "ms",
    "seconds",
    "second",
    "sec",
    "s",
    "minutes",
    "minute",
    "min",
    "m",
    "hours",
    "hour",
    "hr",
    "h",
    "days",
    "day",
    "d",
    "weeks",
    "week",
    "w",
    "months",
    "month",
    "M",
    "years",
    "year",
    "y",
]
TIMESPAN = re.compile(
    rf"\s*(?:\d+(?:\.\d+)?\s*(?:{'|'.join(sorted(UNITS, key=len, reverse=True))})?\s*)+"
)
NUMBER = r"\d+"
ZONEINFO = Path("/usr/share/zoneinfo")


def calendar_error(value: str) -> str | None:
    """Why systemd would refuse ``OnCalendar=value``, or None."""
    analyzed = _analyze("calendar", value)
    return analyzed if analyzed != "" else _calendar_grammar(value)


def timespan_error(value: str) -> str | None:
    """Why systemd would refuse value as a time span (``RandomizedDelaySec=``), or None."""
    analyzed = _analyze("timespan", value)
    if analyzed != "":
        return analyzed
    if value.strip() == "infinity" or TIMESPAN.fullmatch(value):
        return None
    return f"{value!r} is not a time span such as '30s', '15min', '1h 30min' or '2d'"


def _analyze(verb: str, value: str) -> str | None:
    """systemd-analyze's verdict: None when it accepts, its reason, or "" without it."""
    tool = shutil.which("systemd-analyze")
    if tool is None:
        return ""
    try:
        result = subprocess.run(
            [tool, verb, "--", value], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    if result.returncode == 0:
        return None
    reason = result.stderr.strip().splitlines()
    return f"systemd-analyze {verb} says: {reason[-1] if reason else 'invalid'}"


def _calendar_grammar(value: str) -> str | None:
    words = value.split()
    if len(words) > 1 and (words[-1] == "UTC" or (ZONEINFO / words[-1]).is_file()):
        words = words[:-1]
    if len(words) == 1 and words[0].lower() in SHORTHANDS:
        return None
    if words and all(part.lower() in WEEKDAY_NAMES for part in _weekday_parts(words[0])):
        words = words[1:]
    date = time = None
    for word in words:
        if ":" in word and time is None:
            time = word
        elif ("-" in word or "~" in word) and date is None and time is None:
            date = word
        else:
            return f"{value!r} is not a calendar event: {word!r} is not a date, time or weekday"
    reason = (_date_error(date) if date else None) or (_time_error(time) if time else None)
    if reason or (date is None and time is None and not value.split()):
        return f"{value!r} is not a calendar event: {reason or 'it is empty'}"
    return None


def _weekday_parts(word: str) -> list[str]:
    return [end for part in word.split(",") for end in part.split("..") if part]


def _date_error(date: str) -> str | None:
    last = "~" in date
    parts = re.split(r"[-~]", date)
    if len(parts) == 2:
        parts = ["*", *parts]
    if len(parts) != 3 or (last and date.count("~") != 1):
        return f"{date!r} is not a date (year-month-day)"
    limits = ((1970, 2199), (1, 12), (1, 31))
    for part, (low, high) in zip(parts, limits, strict=True):
        if not _component_ok(part, low, high, fraction=False):
            return f"{part!r} in {date!r} is out of range or malformed"
    return None


def _time_error(time: str) -> str | None:
    parts = time.split(":")
    if len(parts) == 2:
        parts.append("00")
    if len(parts) != 3:
        return f"{time!r} is not a time (hour:minute[:second])"
    for index, (part, high) in enumerate(zip(parts, (23, 59, 59), strict=True)):
        if not _component_ok(part, 0, high, fraction=index == 2):
            return f"{part!r} in {time!r} is out of range or malformed"
    return None


def _component_ok(component: str, low: int, high: int, *, fraction: bool) -> bool:
    """One date or time field: *, or a list of values, ranges a..b and repetitions /n."""
    value = rf"{NUMBER}(?:\.\d+)?" if fraction else NUMBER
    for item in component.split(","):
        match = re.fullmatch(rf"(\*|{value})(?:\.\.({value}))?(?:/({value}))?", item)
        if match is None:
            return False
        start, end, step = match.groups()
        bounds = [float(number) for number in (start, end) if number not in (None, "*")]
        if any(not low <= number <= high for number in bounds):
            return False
        if (end and start == "*") or (step is not None and float(step) <= 0):
            return False
        if len(bounds) == 2 and bounds[0] > bounds[1]:
            return False
    return True
