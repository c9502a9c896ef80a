"""Requirements that the archive's oldest Python needs and the build's Python does not."""

from __future__ import annotations

from typing import Any

from django_zipapp.builder.markers import missing_requirements, oldest_environment


def item(name: str, *requires: str, extras: tuple[str, ...] = ()) -> dict[str, Any]:
    found: dict[str, Any] = {"metadata": {"name": name, "requires_dist": list(requires)}}
    if extras:
        found["requested_extras"] = list(extras)
    return found


REDIS = item(
    "redis",
    'async-timeout>=4.0.3; python_full_version < "3.11.3"',
    'cryptography>=36.0.1; extra == "ocsp"',
    'hiredis>=3.0.0; extra == "hiredis"',
)


def test_a_requirement_of_an_older_micro_release_is_added_without_its_marker() -> None:
    assert oldest_environment("3.11")["python_full_version"] == "3.11.0"
    assert missing_requirements([REDIS], oldest_environment("3.11")) == ["async-timeout>=4.0.3"]
    assert missing_requirements([REDIS], oldest_environment("3.12")) == []


def test_what_is_resolved_already_or_an_extra_not_asked_for_is_not_added() -> None:
    timeout = item("Async_Timeout")
    assert missing_requirements([REDIS, timeout], oldest_environment("3.11")) == []
    hiredis = item("redis", 'hiredis>=3.0.0; extra == "hiredis"', extras=("hiredis",))
    assert missing_requirements([hiredis], oldest_environment("3.13")) == ["hiredis>=3.0.0"]


def test_a_build_for_an_older_python_gets_what_that_python_needs() -> None:
    # Under Python 3.12, pip leaves tomli out; an archive for 3.10 needs it.
    goodconf = item("goodconf", 'tomli>=2.0; python_version < "3.11"', "pydantic>=2.7")
    environment = oldest_environment("3.10")
    assert missing_requirements([goodconf, item("pydantic")], environment) == ["tomli>=2.0"]


def test_requirements_without_markers_or_that_cannot_be_read_are_left_to_pip() -> None:
    odd = item("odd", "pydantic>=2", "not a requirement ;;")
    assert missing_requirements([odd], oldest_environment("3.11")) == []
