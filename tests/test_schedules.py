"""Schedules and time spans of scheduled jobs, judged as systemd judges them."""

from __future__ import annotations

import shutil

import pytest
from django.test import override_settings

from django_zipapp import schedules
from django_zipapp.checks import check_settings

CALENDARS = {
    "daily": True,
    "weekly UTC": True,
    "Mon..Fri 03:00": True,
    "Mon,Tue *-*~01": True,
    "*:0/15": True,
    "*-*-1..5/2": True,
    "Sat *-*-* 04:30:00": True,
    "*-*-* 25:00": False,
    "dayly": False,
    "*-*-* *:*:*.5": False,
    "Monday Funday": False,
    "*-13-01": False,
    "03:00 every day": False,
    "": False,
}
TIMESPANS = {"1h": True, "1h 30min": True, "30": True, "1.5s": True, "2 weeks": True,
             "5 x": False, "soon": False, "-1h": False}  # fmt: skip


@pytest.mark.parametrize(("value", "valid"), CALENDARS.items())
def test_the_grammar_judges_calendars_as_systemd_does(value: str, valid: bool) -> None:
    assert (schedules._calendar_grammar(value) is None) is valid
    if shutil.which("systemd-analyze"):
        assert (schedules.calendar_error(value) is None) is valid


@pytest.mark.parametrize(("value", "valid"), TIMESPANS.items())
def test_time_spans(value: str, valid: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    assert (schedules.timespan_error(value) is None) is valid
    # Without systemd-analyze on the build machine, the grammar judges alike.
    monkeypatch.setattr(schedules, "_analyze", lambda verb, value: "")
    assert (schedules.timespan_error(value) is None) is valid


def test_an_invalid_schedule_is_refused_naming_the_job(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(schedules, "_analyze", lambda verb, value: "")
    jobs = {"report": {"command": "clearsessions", "schedule": "*-*-* 25:00"}}
    with override_settings(ZIPAPP_JOBS=jobs):
        (message,) = check_settings()
    assert message.id == "django_zipapp.E011"
    assert message.msg == (
        "ZIPAPP_WORKERS or ZIPAPP_JOBS cannot be used: ZIPAPP_JOBS['report']['schedule'] is "
        "'*-*-* 25:00', which systemd would refuse as OnCalendar= ('*-*-* 25:00' is not a "
        "calendar event: '25' in '25:00' is out of range or malformed), so the job's timer "
        "would never load on the hosts. Give a calendar event such as 'daily' or "
        "'Mon..Fri *-*-* 03:00:00' (see `systemd-analyze calendar`) and time spans such as "
        "'1h' or '15min'."
    )


def test_a_bad_randomized_delay_is_refused() -> None:
    jobs = {"report": {"command": "clearsessions", "schedule": "daily", "randomized_delay": "5 x"}}
    with override_settings(ZIPAPP_JOBS=jobs):
        (message,) = check_settings()
    assert "ZIPAPP_JOBS['report']['randomized_delay'] is '5 x'" in message.msg
    assert "RandomizedDelaySec=" in message.msg
