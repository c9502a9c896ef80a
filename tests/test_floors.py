"""The lowest versions setup.cfg allows are the ones tox's floors environment tests, and a
project that pins below them is refused before pip runs."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from django_zipapp.builder.errors import BuildError
from django_zipapp.builder.floors import refuse_pins_below_floors
from django_zipapp.builder.requirements import find_requirements, runtime_requirements
from tests.archives import build_in, copy_example

ROOT = Path(__file__).resolve().parent.parent


def floors_of(lines: list[str]) -> dict[str, Version]:
    found = {}
    for line in lines:
        requirement = Requirement(line)
        (specifier,) = [s for s in requirement.specifier if s.operator in (">=", "==")]
        found[requirement.name.lower()] = Version(specifier.version)
    return found


def test_the_floors_environment_pins_every_floor_of_setup_cfg() -> None:
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    declared = [
        line.strip()
        for line in setup["options"]["install_requires"].splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    pinned = [
        line
        for line in (ROOT / "tests" / "floors.txt").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert floors_of(pinned) == floors_of(declared)
    # The archive's runtime is refused below the same floors.
    assert floors_of(list(runtime_requirements())).items() <= floors_of(declared).items()


def refused(tmp_path: Path, requirements: str) -> str:
    (tmp_path / "requirements.txt").write_text(requirements)
    with pytest.raises(BuildError) as caught:
        refuse_pins_below_floors(find_requirements(tmp_path, None), runtime_requirements())
    return str(caught.value)


def test_a_pin_below_a_floor_is_refused_naming_package_version_and_floor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PIP_CONSTRAINT", raising=False)
    (tmp_path / "constraints.txt").write_text("whitenoise==6.5.0\n")
    message = refused(
        tmp_path,
        "Django==5.2.1\n"
        "gunicorn==22.0.0 --hash=sha256:0000\n"
        "-c constraints.txt\n"
        "goodconf==6.0.0; python_version < '3'\n",  # never on this Python
    )
    assert message == (
        "The project pins gunicorn 22.0.0 (in requirements.txt), below its floor 24.0; "
        "whitenoise 6.5.0 (in constraints.txt), below its floor 6.6: the archive's runtime "
        "(serve, its configuration and static files) needs at least those versions, so it "
        "would fail where it runs. Raise each pin to its floor or newer and build again."
    )


def test_pins_at_or_above_the_floors_and_ranges_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PIP_CONSTRAINT", raising=False)
    (tmp_path / "requirements.txt").write_text(
        "gunicorn==24.0.0\nwhitenoise>=6.0\nDjango==5.2\nrequests==2.0.0\n"
    )
    refuse_pins_below_floors(find_requirements(tmp_path, None), runtime_requirements())
    (tmp_path / "requirements.txt").unlink()
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "site"\ndependencies = ["gunicorn==21.2.0"]\n'
    )
    with pytest.raises(BuildError, match=r"pins gunicorn 21\.2\.0 \(in pyproject\.toml\)"):
        refuse_pins_below_floors(find_requirements(tmp_path, None), runtime_requirements())


def test_buildpyz_refuses_a_project_pinning_gunicorn_below_the_floor(tmp_path: Path) -> None:
    project = copy_example(tmp_path / "project")
    requirements = project / "requirements.txt"
    requirements.write_text(requirements.read_text().replace("gunicorn>=24.0", "gunicorn==23.0.0"))
    build = build_in(project, "-o", str(tmp_path / "site.pyz"))
    assert (build.returncode, "Traceback" in build.stderr) == (1, False), build.stderr
    assert build.stderr.strip().splitlines()[-1] == (
        "CommandError: The project pins gunicorn 23.0.0 (in requirements.txt), below its "
        "floor 24.0: the archive's runtime (serve, its configuration and static files) needs "
        "at least those versions, so it would fail where it runs. Raise each pin to its "
        "floor or newer and build again."
    )
    assert "Collecting static files" not in build.stdout
    assert not (tmp_path / "site.pyz").exists()
