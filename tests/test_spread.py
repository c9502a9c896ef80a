"""Each new tree of the cache is placed by the file system away from what was just freed.

The boot package marks the extraction root and the shared store with ext2/3/4's "top of
directory hierarchies" flag (``chattr +T``). Read back here with e2fsprogs' ``lsattr``,
not with the code under test. Where no folder on such a file system can be had (a
machine whose temporary folders are all in memory), the tests that need one are skipped.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from django_zipapp.boot.spread import spread_children
from tests.archives import Built, run_archive, site_env


def attributes(folder: Path) -> str:
    """The folder's attributes as ``lsattr -d`` prints them: ``-------------Te-------``."""
    result = subprocess.run(
        ["lsattr", "-d", str(folder)], capture_output=True, text=True, check=True
    )
    return result.stdout.split()[0]


def _supports_the_flag(folder: Path) -> bool:
    probe = folder / "probe"
    probe.mkdir()
    try:
        done = subprocess.run(["chattr", "+T", str(probe)], capture_output=True)
        return done.returncode == 0 and "T" in attributes(probe)
    finally:
        probe.rmdir()


@pytest.fixture
def on_disk(tmp_path: Path) -> Iterator[Path]:
    """An empty folder on a file system that has the flag, else the test is skipped."""
    if shutil.which("chattr") is None or shutil.which("lsattr") is None:
        pytest.skip("e2fsprogs' chattr and lsattr are not installed")
    for parent in (tmp_path, Path("/var/tmp"), Path.home()):
        try:
            folder = Path(tempfile.mkdtemp(prefix="django-zipapp-spread-", dir=parent))
        except OSError:
            continue
        try:
            if _supports_the_flag(folder):
                yield folder
                return
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    pytest.skip("no folder on an ext2/3/4 file system to try the flag on")


def test_the_flag_is_set_and_every_other_attribute_kept(on_disk: Path) -> None:
    before = attributes(on_disk)
    assert "T" not in before
    spread_children(on_disk)
    after = attributes(on_disk)
    assert "T" in after
    assert after.replace("T", "-") == before  # lsattr prints "-" for a flag not set
    spread_children(on_disk)  # once is enough: a second call changes nothing
    assert attributes(on_disk) == after


def test_a_file_system_without_the_flag_is_left_as_it_is(tmp_path: Path) -> None:
    memory = Path("/dev/shm")
    folder = Path(tempfile.mkdtemp(dir=memory)) if memory.is_dir() else tmp_path
    try:
        spread_children(folder)  # tmpfs has no such flag: nothing happens, nothing raised
        spread_children(folder / "missing")
        assert folder.is_dir()
    finally:
        if folder != tmp_path:
            shutil.rmtree(folder)


@pytest.mark.e2e
def test_a_first_start_spreads_its_build_and_its_layers(built: Built, on_disk: Path) -> None:
    cache = on_disk / "cache"
    result = run_archive(built, "prepare", env=site_env(built, SHIV_ROOT=str(cache)))
    assert result.returncode == 0, result.stderr
    assert "T" in attributes(cache)
    assert "T" in attributes(cache / ".shared")
    # What the start made inside carries no flag of its own: only the two parents do.
    (extraction,) = (path for path in cache.iterdir() if path.name.startswith("site.pyz_"))
    assert "T" not in attributes(extraction)
    # And the site runs from there.
    checked = run_archive(built, "check", env=site_env(built, SHIV_ROOT=str(cache)))
    assert checked.returncode == 0, checked.stderr
