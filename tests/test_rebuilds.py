"""Rebuilds: what a build takes from the builder's cache, and that the archive never shows it.

One project, one cache of its own, built four times in a row: a damaged copy of the
archive's dependency part in the cache is written again, not shipped; a build that starts
with the dependencies the requirements resolved to last, when pip now resolves a newer
release, writes the archive again with it; and each archive is byte for byte the one a
build without any cache makes.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import shutil
import sqlite3
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.archives import Built, build_in, copy_example, run_archive

# Five builds, three of them installing every dependency: run once (see pyproject.toml).
pytestmark = [pytest.mark.e2e, pytest.mark.heavy]

PROBE = "zipapp_probe"


def make_wheel(folder: Path, version: str) -> Path:
    """A pure-Python wheel of one module that knows its version."""
    dist = f"{PROBE}-{version}.dist-info"
    files = {
        f"{PROBE}/__init__.py": f"VERSION = {version!r}\n".encode(),
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {PROBE}\nVersion: {version}\n".encode(),
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }
    lines = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        lines.append(f"{name},sha256={digest},{len(data)}\n")
    files[f"{dist}/RECORD"] = ("".join(lines) + f"{dist}/RECORD,,\n").encode()
    wheel = folder / f"{PROBE}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for name, data in files.items():
            zf.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), data)
    return wheel


@dataclass
class Site:
    project: Path
    cache: Path
    wheels: Path

    def build(self, name: str, *options: str, verify: bool = False) -> tuple[Built, str]:
        output = self.project.parent / name
        result = build_in(
            self.project, "--cache-dir", str(self.cache), "-o", str(output), *options,
            verify=verify, env={"SOURCE_DATE_EPOCH": "1700000000"},
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        return Built(output, result.stdout, self.project.parent), result.stdout

    def layer(self) -> Path:
        (layer,) = (self.cache / "archive-layers").iterdir()
        return layer


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    work = tmp_path_factory.mktemp("rebuilds")
    project = copy_example(work / "project")
    wheels = work / "wheels"
    wheels.mkdir()
    make_wheel(wheels, "1.0")
    with (project / "requirements.txt").open("a") as requirements:
        requirements.write(f"--find-links {wheels}\n{PROBE}>=1.0\n")
    return Site(project, work / "cache", wheels)


def probe_version(built: Built) -> str:
    result = run_archive(
        built, "shell", "--no-imports", "-c", f"import {PROBE}; print({PROBE}.VERSION)"
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_a_rebuild_reuses_the_cache_and_gives_the_archive_a_clean_build_gives(
    site: Site,
) -> None:
    first, output = site.build("first.pyz")
    assert probe_version(first) == "1.0"
    layer = site.layer()
    record = json.loads((layer / "layer.json").read_text())

    # A damaged dependency part in the cache is written again, not shipped.
    data = bytearray((layer / "layer.zip").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (layer / "layer.zip").write_bytes(bytes(data))
    with (site.project / "notes" / "templates" / "notes" / "home.html").open("a") as template:
        template.write("<!-- changed -->\n")
    second, output = site.build("second.pyz")
    assert "which requirements.txt resolved to last" in output
    assert "pip resolved other dependencies" not in output
    assert hashlib.sha256((layer / "layer.zip").read_bytes()).hexdigest() == record["sha256"]

    # Without any cache, the same tree gives the same bytes.
    clean, _ = site.build("clean.pyz", "--no-cache")
    assert second.archive.read_bytes() == clean.archive.read_bytes()
    assert first.archive.read_bytes() != second.archive.read_bytes()
    with zipfile.ZipFile(second.archive) as zf:
        assert zf.testzip() is None


def test_a_new_release_of_a_requirement_is_built_in_although_the_build_started_without(
    site: Site,
) -> None:
    make_wheel(site.wheels, "1.1")
    built, output = site.build("newer.pyz", verify=True)
    # It started with what the requirements resolved to last (1.0), then pip said 1.1.
    assert "which requirements.txt resolved to last" in output
    assert "pip resolved other dependencies than last time" in output
    assert probe_version(built) == "1.1"
    # The verification unpacked it in the cache, under the name it was built with.
    build_id = json.loads(run_archive(built, "info", "--json").stdout)["build_id"]
    assert (site.cache / "verify" / f"newer.pyz_{build_id}").is_dir()


def migrations_in(database: Path) -> int:
    with contextlib.closing(sqlite3.connect(database)) as connection:
        (count,) = connection.execute("SELECT COUNT(*) FROM django_migrations").fetchone()
    return int(count)


def test_the_verification_migrates_the_database_the_last_one_left(site: Site) -> None:
    (kept,) = (site.cache / "verify" / "databases").glob("*/state/verify.sqlite3")
    assert migrations_in(kept) > 10
    # A database that no longer migrates (another branch, a damaged file): the
    # verification migrates a new one, as for a first build, and keeps that.
    kept.write_bytes(b"not a database" * 100)
    with (site.project / "notes" / "templates" / "notes" / "home.html").open("a") as template:
        template.write("<!-- again -->\n")
    _, output = site.build("again.pyz", verify=True)
    assert "Built " in output
    (kept,) = (site.cache / "verify" / "databases").glob("*/state/verify.sqlite3")
    assert migrations_in(kept) > 10
    shutil.rmtree(site.cache / "verify")
