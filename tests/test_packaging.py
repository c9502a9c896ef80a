"""The distributions users install: built from the sdist, valid for PyPI, the package only."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import django_zipapp

pytestmark = pytest.mark.packaging

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "django_zipapp"
NOT_SOURCES = shutil.ignore_patterns(
    ".git", ".tox", ".venv*", "build", "dist", "*.egg-info", "_build", "__pycache__", "*.pyz"
)


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Built from a copy: setuptools writes egg-info and build/ next to the sources.
    work = tmp_path_factory.mktemp("packaging")
    shutil.copytree(ROOT, work / "source", ignore=NOT_SOURCES)
    # The default of `python -m build`: the sdist first, then the wheel from the sdist,
    # which proves the sdist is complete.
    result = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(work / "dist"), str(work / "source")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return work / "dist"


def one(dist: Path, pattern: str) -> Path:
    (path,) = dist.glob(pattern)
    return path


def test_twine_check_passes(dist: Path) -> None:
    files = [str(path) for path in sorted(dist.iterdir())]
    result = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *files],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("PASSED") == 2, result.stdout


def test_the_wheel_holds_the_package_and_nothing_else(dist: Path) -> None:
    with zipfile.ZipFile(one(dist, "*.whl")) as wheel:
        names = wheel.namelist()
    dist_info = f"django_zipapp-{django_zipapp.__version__}.dist-info"
    assert {name.split("/")[0] for name in names} == {"django_zipapp", dist_info}
    sources = {
        path.relative_to(ROOT).as_posix()
        for path in PACKAGE.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }
    assert {name for name in names if name.startswith("django_zipapp/")} == sources
    assert "django_zipapp/py.typed" in sources


def test_the_sdist_holds_no_example_or_tests(dist: Path) -> None:
    with tarfile.open(one(dist, "*.tar.gz")) as sdist:
        names = sdist.getnames()
    top = f"django_zipapp-{django_zipapp.__version__}/"
    inner = {name.removeprefix(top).split("/")[0] for name in names if name != top.rstrip("/")}
    assert {"django_zipapp", "setup.cfg", "pyproject.toml", "README.rst", "LICENSE"} <= inner
    assert inner.isdisjoint({"tests", "example_project", "bench", "docs", ".ci"})


def test_classifiers_name_the_tested_versions(dist: Path) -> None:
    with zipfile.ZipFile(one(dist, "*.whl")) as wheel:
        metadata = wheel.read(
            f"django_zipapp-{django_zipapp.__version__}.dist-info/METADATA"
        ).decode()
    classifiers = re.findall(r"^Classifier: (.+:: (?:Python|Django) :: \d+\.\d+)$", metadata, re.M)
    tested = set()
    for env in tox_environments():
        if match := re.fullmatch(r"py3(\d+)-django(\d)(\d)", env):
            tested.add(f"Programming Language :: Python :: 3.{match[1]}")
            tested.add(f"Framework :: Django :: {match[2]}.{match[3]}")
    assert len(tested) == 7
    assert sorted(classifiers) == sorted(tested)


def tox_environments() -> list[str]:
    tox = configparser.ConfigParser()
    tox.read(ROOT / "tox.ini")
    pending = tox["tox"]["env_list"].split()
    names = []
    while pending:
        name = pending.pop()
        braces = re.search(r"\{([^}]*)\}", name)
        if braces is None:
            names.append(name)
            continue
        for choice in braces[1].split(","):
            pending.append(name[: braces.start()] + choice + name[braces.end() :])
    return names
