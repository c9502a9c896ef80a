"""The build's verification step: the new archive started as production would.

A page listed in ZIPAPP_VERIFY_URLS that fails fails the build, with the server's own
traceback, and leaves nothing at the output path; --no-verify builds it all the same.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.archives import Built, build_in, copy_example

pytestmark = pytest.mark.e2e

BROKEN_VIEW = """

def broken(request):
    raise ZeroDivisionError("the page listed for verification is broken")


urlpatterns.append(path("broken/", broken))
"""


@pytest.fixture(scope="module")
def broken_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = copy_example(tmp_path_factory.mktemp("broken") / "project")
    with (project / "example" / "urls.py").open("a") as urls:
        urls.write(BROKEN_VIEW)
    with (project / "example" / "settings.py").open("a") as settings:
        settings.write('\nZIPAPP_VERIFY_URLS = ["/", "/broken/"]\n')
    return project


def test_the_default_build_is_verified(built: Built) -> None:
    lines = built.build_output.splitlines()
    assert "- Verifying: check --deploy, migrate, serve, then GET /" in lines
    # The admin's login page too, and the stylesheets, scripts and images both link.
    verified = next(line for line in lines if line.startswith("- Verified "))
    assert re.fullmatch(
        r"- Verified 2 pages \(/, /admin/login/\) and \d+ files they link", verified
    )
    assert int(verified.split(" and ")[1].split()[0]) >= 2
    assert lines[-1].startswith("Built ")


def test_a_failing_page_fails_the_build(broken_project: Path) -> None:
    output = broken_project.parent / "dist" / "site.pyz"
    output.parent.mkdir()
    result = build_in(broken_project, "-o", str(output), verify=True)
    assert result.returncode == 1, result.stdout
    assert "Traceback" not in result.stderr.split("It said:")[0]
    assert result.stderr.startswith(
        "CommandError: The new archive failed its verification, started as production "
        "would: GET /broken/ answered 500, so it was not written to the output path."
    )
    # The server's own words: the exception the view raised.
    assert "ZeroDivisionError: the page listed for verification is broken" in result.stderr
    assert list(output.parent.iterdir()) == []


def test_no_verify_builds_it_all_the_same(broken_project: Path) -> None:
    output = broken_project.parent / "unverified.pyz"
    result = build_in(broken_project, "-o", str(output), "--no-verify")
    assert result.returncode == 0, result.stderr
    assert "Verifying" not in result.stdout
    assert output.is_file()


def test_a_required_field_only_the_server_gives_is_named_with_the_way_in(tmp_path: Path) -> None:
    project = copy_example(tmp_path / "project")
    conf = project / "example" / "conf.py"
    conf.write_text(
        conf.read_text().replace(
            "\n\nconfig = ExampleConfig()",
            '\n    API_TOKEN: str = Field(description="The partner API token. Required.")'
            "\n\n\nconfig = ExampleConfig()",
        )
    )
    environment = {"API_TOKEN": "development-token"}
    output = tmp_path / "site.pyz"
    result = build_in(project, "-o", str(output), env=environment, verify=True)
    assert result.returncode == 1, result.stdout
    assert result.stderr.startswith(
        "CommandError: The new archive failed its verification, started as production "
        "would: `check --deploy` found its configuration invalid, so it was not written to "
        "the output path. The settings read the environment variable API_TOKEN, which the "
        "verification does not give (it starts the archive without the build's "
        "environment): give it as the server does, with `python manage.py buildpyz "
        "--verify-env API_TOKEN=VALUE` (repeatable), or in ZIPAPP_VERIFY_ENV"
    ), result.stderr
    assert "API_TOKEN: required" in result.stderr
    assert "development-token" not in result.stdout + result.stderr
    assert not output.exists()
    with (project / "example" / "settings.py").open("a") as settings:
        settings.write('\nZIPAPP_VERIFY_ENV = {"API_TOKEN": "verification"}\n')
    result = build_in(project, "-o", str(output), env=environment, verify=True)
    assert result.returncode == 0, result.stdout + result.stderr
