"""What only the build needs stays out of the archive (builder/build_only.py).

The selection is tested on its own, without building; one real build of a project that
lists django-zipapp (a wheel of this checkout) and pins click, as `pip freeze` would,
shows the archive, its SBOM, its start and its refusal to build.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from django_zipapp.builder.build_only import (
    Distribution,
    build_only_names,
    guessed_modules,
    imported_modules,
    select,
)
from django_zipapp.builder.markers import oldest_environment
from django_zipapp.builder.requirements import RUNTIME_REQUIREMENTS
from django_zipapp.runtime.attestations import SBOM_NAME
from django_zipapp.runtime.no_builder import MESSAGE
from tests.archives import (
    EXAMPLE,
    Built,
    build_in,
    get,
    run_archive,
    running_server,
    site_env,
)
from tests.sbom import check_sbom, normalized, packed_distributions

ROOTS = (
    "cyclonedx-python-lib>=11.6",
    "Django>=5.2",
    "gunicorn>=24.0",
    "packaging>=23.0",
    "pip>=25.0",
    "shiv>=1.0.6",
    'tomli>=2.0; python_version < "3.11"',
    "whitenoise[brotli]>=6.6",
)
# A site's frozen requirements, as their metadata names what each requires.
FROZEN = {
    "django-zipapp": ROOTS,
    "django": ("asgiref>=3.8",),
    "asgiref": (),
    "gunicorn": ("packaging",),
    "packaging": (),
    "whitenoise": ('brotli>=1.0; extra == "brotli"',),
    "brotli": (),
    "pip": (),
    "shiv": ("click>=6.7", "pip>=9.0.3", "setuptools"),
    "click": (),
    "setuptools": (),
    "cyclonedx-python-lib": ("license-expression>=30", "py-serializable>=2.1"),
    "license-expression": ("boolean.py>=4.0",),
    "boolean-py": (),
    "py-serializable": ("defusedxml>=0.7",),
    "defusedxml": (),
    "tomli": (),
}
MODULES = {"boolean-py": "boolean", "cyclonedx-python-lib": "cyclonedx"}


def frozen(**extra: tuple[str, ...]) -> dict[str, Distribution]:
    requires = {**FROZEN, **extra}
    return {
        name: Distribution(name, needs, frozenset({MODULES.get(name, name.replace("-", "_"))}))
        for name, needs in requires.items()
    }


def left_out(
    distributions: dict[str, Distribution],
    used: frozenset[str] = frozenset(),
    python: str = "3.12",
) -> set[str]:
    return build_only_names(
        distributions,
        roots=ROOTS,
        runtime=RUNTIME_REQUIREMENTS,
        environment=oldest_environment(python),
        used_modules=used,
    )


BUILDER_ONLY = {
    "pip", "shiv", "click", "setuptools", "cyclonedx-python-lib", "license-expression",
    "boolean-py", "py-serializable", "defusedxml", "brotli",
}  # fmt: skip


def test_what_only_django_zipapps_builder_reaches_is_left_out() -> None:
    # packaging stays: gunicorn requires it.
    assert left_out(frozen()) == BUILDER_ONLY


def test_what_the_project_imports_or_installs_as_an_app_stays_with_what_it_needs() -> None:
    assert left_out(frozen(), used=frozenset({"click"})) == BUILDER_ONLY - {"click"}
    # An app in INSTALLED_APPS counts as used: what it requires stays too.
    assert left_out(frozen(), used=frozenset({"cyclonedx"})) == {
        "pip",
        "shiv",
        "click",
        "setuptools",
        "brotli",
    }


def test_what_a_kept_distribution_requires_stays() -> None:
    distributions = frozen(rich=("click>=8",), gunicorn=())
    assert left_out(distributions) == (BUILDER_ONLY | {"packaging"}) - {"click"}


def test_an_extra_that_what_is_installed_shows_was_asked_for_keeps_what_it_adds() -> None:
    # celery[redis] installs kombu[redis], which adds redis and packaging: kombu's Redis
    # transport imports packaging. gunicorn's extras are not installed; whitenoise[brotli]
    # adds only what django-zipapp asks for.
    distributions = frozen(
        gunicorn=('packaging; extra == "gevent"', 'gevent>=1.4; extra == "gevent"'),
        celery=("kombu>=5.6", 'kombu[redis]>=5.6; extra == "redis"'),
        kombu=('redis>=4.5; extra == "redis"', 'packaging==26.3; extra == "redis"'),
        redis=(),
    )
    assert left_out(distributions) == BUILDER_ONLY
    # Plain celery: kombu's extra adds redis, which is not installed.
    plain = {name: d for name, d in distributions.items() if name not in ("redis", "celery")}
    plain["celery"] = Distribution("celery", ("kombu>=5.6",), frozenset({"celery"}))
    assert left_out(plain) == BUILDER_ONLY | {"packaging"}


def test_markers_are_judged_for_the_archives_python() -> None:
    assert "tomli" in left_out(frozen(), python="3.10")
    # Not required on 3.12 by django-zipapp: installed for another reason, so it stays.
    assert "tomli" not in left_out(frozen(), python="3.12")


def test_nothing_is_left_out_without_the_builders_requirements() -> None:
    distributions = {
        name: dist for name, dist in frozen().items() if name in {"django", "asgiref", "gunicorn"}
    }
    assert left_out(distributions) == set()


def test_imports_are_found_in_every_spelling(tmp_path: Path) -> None:
    module = tmp_path / "cli.py"
    module.write_text(
        "import os\nimport click.testing as t, shiv\nfrom pip._internal import main\n"
        "    from setuptools import setup\nx = 'not import me'\n"
    )
    assert imported_modules([module]) == {"os", "click", "shiv", "pip", "setuptools"}
    assert guessed_modules("cyclonedx-python-lib") == {"cyclonedx_python_lib", "cyclonedx"}


def dist_info(site_packages: Path, name: str, requires: list[str], files: list[str]) -> None:
    folder = site_packages / f"{name}-1.0.dist-info"
    folder.mkdir(parents=True)
    lines = "".join(f"Requires-Dist: {line}\n" for line in requires)
    (folder / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n{lines}")
    for file in files:
        (site_packages / file).parent.mkdir(parents=True, exist_ok=True)
        (site_packages / file).write_text("")
    listed = [*files, f"{name}-1.0.dist-info/METADATA", f"{name}-1.0.dist-info/RECORD"]
    (folder / "RECORD").write_text("".join(f"{path},,\n" for path in listed))


def test_the_files_left_out_are_the_distributions_own(tmp_path: Path) -> None:
    site_packages = tmp_path / "site-packages"
    dist_info(site_packages, "django-zipapp", ["shiv", "Django"], ["django_zipapp/__init__.py"])
    dist_info(site_packages, "Django", [], ["django/__init__.py"])
    dist_info(site_packages, "shiv", ["click"], ["shiv/__init__.py", "shared/shiv.py"])
    dist_info(site_packages, "click", [], ["click/__init__.py", "shared/click.py"])
    project = tmp_path / "project"
    (project / "site").mkdir(parents=True)
    (project / "site" / "views.py").write_text("from django.http import HttpResponse\n")
    chosen = select(
        site_packages, project, runtime=("Django",), python="3.12", installed_apps=["site"]
    )
    assert chosen.names == ("click", "shiv")
    assert chosen.files == {
        "click/__init__.py", "shared/click.py", "click-1.0.dist-info/METADATA",
        "click-1.0.dist-info/RECORD", "shiv/__init__.py", "shared/shiv.py",
        "shiv-1.0.dist-info/METADATA", "shiv-1.0.dist-info/RECORD",
    }  # fmt: skip
    # A namespace folder goes as a whole only when nothing else installed into it.
    assert chosen.entries == {
        "click",
        "click-1.0.dist-info",
        "shiv",
        "shiv-1.0.dist-info",
        "shared",
    }
    assert chosen.summary() == "Leaving out what only the build needs: click, shiv (8 files)"
    (project / "site" / "cli.py").write_text("import click\n")
    kept = select(
        site_packages, project, runtime=("Django",), python="3.12", installed_apps=["site"]
    )
    assert kept.names == ("shiv",)
    assert "shared" not in kept.entries


def test_the_builder_refuses_to_be_imported_inside_an_archive() -> None:
    program = (
        "from django_zipapp.runtime.no_builder import mark_inside_archive\n"
        "mark_inside_archive()\n"
        "import django_zipapp.builder.signing\n"
    )
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True)
    assert result.returncode == 1
    expected = MESSAGE.format(what="django_zipapp.builder")
    assert f"BuilderNotInArchive: {expected}" in result.stderr


def test_a_build_of_a_site_without_builder_requirements_leaves_nothing_out(built: Built) -> None:
    assert "Leaving out" not in built.build_output


# The real build: a project that lists django-zipapp, pins click (pip freeze) and imports
# click in its own code.


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel of this checkout, as a project's requirements would name django-zipapp."""
    folder = tmp_path_factory.mktemp("wheel")
    source = folder / "source"
    root = Path(__file__).resolve().parent.parent
    ignore = shutil.ignore_patterns(".*", "build", "*.egg-info", "__pycache__", "*.pyz")
    shutil.copytree(root, source, ignore=ignore)
    command = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(folder), "."]
    subprocess.run(command, cwd=source, check=True, capture_output=True)
    return next(folder.glob("django_zipapp-*.whl"))


@pytest.fixture(scope="session")
def listed(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Built:
    work = tmp_path_factory.mktemp("lean")
    project = work / "project"
    ignore = shutil.ignore_patterns("__pycache__", "var", "staticfiles", "*.pyz")
    shutil.copytree(EXAMPLE, project, ignore=ignore)
    click = importlib.metadata.version("click")
    with (project / "requirements.txt").open("a") as requirements:
        requirements.write(f"django-zipapp @ {wheel.as_uri()}\nclick=={click}\n")
    (project / "notes" / "cli.py").write_text("import click\n")
    (work / "build").mkdir()
    result = build_in(project, "-o", str(work / "build" / "site.pyz"))
    assert result.returncode == 0, result.stdout + result.stderr
    return Built(work / "build" / "site.pyz", result.stdout, work)


@pytest.mark.e2e
@pytest.mark.heavy
def test_an_archive_holds_none_of_what_only_the_build_needs(listed: Built, tmp_path: Path) -> None:
    with zipfile.ZipFile(listed.archive) as zf:
        names = zf.namelist()
        sbom = zf.read(SBOM_NAME).decode()
        shared = zf.read("django_zipapp.shareable").decode()
    tops = {name.split("/")[1] for name in names if name.startswith("site-packages/")}
    for module in ("pip", "shiv", "cyclonedx", "setuptools", "pkg_resources", "packageurl"):
        assert module not in tops
        assert f" {module}\n" not in shared
    assert "click" in tops  # the project's own code imports it
    assert "django_zipapp" in tops
    info = run_archive(listed, "info", "--sbom")
    assert info.returncode == 0, info.stderr
    assert sbom == info.stdout
    components = {c["name"] for c in json.loads(info.stdout)["components"]}
    assert {"click", "Django", "gunicorn"} <= components
    assert not {"pip", "shiv", "cyclonedx-python-lib", "setuptools"} & components
    check_sbom(listed.archive, info.stdout.encode(), "example")
    line = next(line for line in listed.build_output.splitlines() if "Leaving out" in line)
    assert "cyclonedx-python-lib" in line and "pip" in line and "shiv" in line
    assert "click" not in line


@pytest.mark.e2e
@pytest.mark.heavy
def test_an_archive_without_the_builder_serves_and_refuses_to_build(
    listed: Built, tmp_path: Path
) -> None:
    (listed.work / "state").mkdir(exist_ok=True)
    migrate = run_archive(listed, "migrate", "--noinput")
    assert migrate.returncode == 0, migrate.stderr
    with running_server(listed.archive, site_env(listed), tmp_path / "serve.log") as server:
        status, _, _ = get(server.base + "/")
    assert status == 200
    refused = run_archive(listed, "buildpyz")
    assert refused.returncode == 1
    assert refused.stderr == f"error: {MESSAGE.format(what='buildpyz')}\n"
    assert "Traceback" not in refused.stdout + refused.stderr


def test_verify_signature_says_it_does_not_run_inside_an_archive() -> None:
    program = (
        "import django\n"
        "from django.core.management import call_command\n"
        "from django.core.management.base import CommandError\n"
        "from django_zipapp.runtime.no_builder import mark_inside_archive\n"
        "django.setup()\n"
        "mark_inside_archive()\n"
        "try:\n"
        "    call_command('verify-signature', 'site.pyz', '-P', 'RWkey')\n"
        "except CommandError as exc:\n"
        "    print(exc)\n"
    )
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, env=environment
    )
    assert result.stdout.startswith("verify-signature does not run inside an archive, ")
    assert result.returncode == 0, result.stderr


@pytest.mark.e2e
@pytest.mark.heavy
def test_list_marks_what_the_build_left_out(listed: Built) -> None:
    result = build_in(listed.work / "project", "--list")
    assert result.returncode == 0, result.stdout + result.stderr
    packed = packed_distributions(listed.archive)
    lines = result.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Dependencies from"))
    end = next(i for i, line in enumerate(lines) if line.startswith("Project files from"))
    for line in lines[start + 1 : end]:
        sign, name, version = line.split()[:3]
        assert (sign == "+") == ((normalized(name), version) in packed), line
    assert "  - pip " in result.stdout and "  + click " in result.stdout
