"""The environment a bundled archive hands to the programs it starts."""

from __future__ import annotations

from django_zipapp.runtime.bundle import OUTER_LIBRARY_PATH, outer_environment


def test_a_plain_archive_hands_on_its_environment_as_it_is() -> None:
    environment = {"PATH": "/usr/bin", "LD_LIBRARY_PATH": "/opt/lib"}
    assert outer_environment(environment) == environment


def test_the_bundled_libraries_do_not_reach_child_programs() -> None:
    launched = {"PATH": "/usr/bin", "LD_LIBRARY_PATH": "/c/site.python/python/lib"}
    assert outer_environment({**launched, OUTER_LIBRARY_PATH: ""}) == {"PATH": "/usr/bin"}
    assert outer_environment(
        {**launched, "LD_LIBRARY_PATH": "/c/python/lib:/opt/lib", OUTER_LIBRARY_PATH: "=/opt/lib"}
    ) == {"PATH": "/usr/bin", "LD_LIBRARY_PATH": "/opt/lib"}
