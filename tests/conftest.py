"""The archive built once per test session from example_project, and its migrated state."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.archives import (
    DEBUG_FROM_ENVIRONMENT,
    EXAMPLE,
    PLANTED_LINKS,
    PUBLISHED_KEY,
    ROOT_FILES,
    Built,
    build_in,
    build_project,
    make_sqlite,
    run_archive,
)

# The booted Debian hosts, for any test file: see tests/hosts.py.
from tests.hosts import boot_hosts, host, hosts_key, mark_host_tests  # noqa: F401

# A private Redis server for the tests of one module.
from tests.redis_server import redis_url  # noqa: F401

PLANTED = {
    ".env": "SECRET_KEY=leaked-from-dotenv",
    "notes/.env.local": "SECRET_KEY=leaked",
    "notes/__pycache__/views.cpython-311.pyc": "stale bytecode",
    ".git/HEAD": "ref: refs/heads/main",
    "notes/.git/config": "[core]",
}


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    work = tmp_path_factory.mktemp("e2e")
    project = work / "project"
    shutil.copytree(
        EXAMPLE,
        project,
        ignore=shutil.ignore_patterns("__pycache__", "var", "staticfiles", "*.pyz"),
    )
    for name, content in PLANTED.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(content)
    for name, target in PLANTED_LINKS.items():
        (project / name).symlink_to(target)
    # A build-time setting naming a file that stays on the build machine: the archive's
    # own commands must not trip over it.
    with (project / "example" / "settings.py").open("a") as settings:
        settings.write('\nZIPAPP_REQUIREMENTS = BASE_DIR / "requirements.txt"\n')
        # Files whitenoise serves at the site's root.
        settings.write('WHITENOISE_ROOT = BASE_DIR / "public"\n')
    (project / "public").mkdir()
    for root_file, data in ROOT_FILES.items():
        (project / "public" / root_file).write_bytes(data)
    # A default key as a project copies it from a public repository.
    (project / "notes" / "upstream.py").write_text(f"DEFAULT_KEY = {PUBLISHED_KEY!r}\n")
    make_sqlite(project / "notes" / "db.sqlite3")
    make_sqlite(project / "example" / "cache.bin")  # a database by content, not by name
    (work / "build").mkdir()
    # The default build, verification step included.
    result = build_in(project, "-o", str(work / "build" / "site.pyz"), verify=True)
    assert result.returncode == 0, result.stdout + result.stderr
    # Deploy: the archive alone, copied to another folder.
    (work / "srv").mkdir()
    shutil.copy2(work / "build" / "site.pyz", work / "srv" / "site.pyz")
    return Built(work / "srv" / "site.pyz", result.stdout, work)


@pytest.fixture(scope="session")
def migrated(built: Built) -> Built:
    result = run_archive(built, "migrate", "--noinput")
    assert result.returncode == 0, result.stderr
    return built


@pytest.fixture(scope="session")
def rebuilt(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """A second build of example_project, whose home page says so: a new deploy."""
    work = tmp_path_factory.mktemp("rebuilt")
    project = work / "project"
    ignore = shutil.ignore_patterns("__pycache__", "var", "staticfiles", "*.pyz")
    shutil.copytree(EXAMPLE, project, ignore=ignore)
    template = project / "notes" / "templates" / "notes" / "home.html"
    template.write_text(template.read_text().replace("<h1>Notes</h1>", "<h1>Notes, rebuilt</h1>"))
    result = build_in(project, "-o", str(work / "site.pyz"))
    assert result.returncode == 0, result.stdout + result.stderr
    return Built(work / "site.pyz", result.stdout, work)


@pytest.fixture(scope="session")
def compressed(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """tests/projects/compressed (django-compressor's offline mode), built once for
    tests/test_layouts.py and tests/test_generators.py: with DEBUG on in the build
    machine's environment, verified, deployed and migrated."""
    work = tmp_path_factory.mktemp("compressed")
    env = {"DEBUG": "1"}
    built = build_project(work, "compressed", settings=DEBUG_FROM_ENVIRONMENT, env=env, verify=True)
    migrate = run_archive(built, "migrate", "--noinput", cwd=Path("/"))
    assert migrate.returncode == 0, migrate.stderr
    return built


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    mark_host_tests(items)
