"""What a warm start checks of its extraction, and what ``prepare --check`` repairs.

A warm start compares the extraction's seal (a few folders), not its files; damage
below the top of site-packages is found by ``prepare --check``, which reads every file.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.archives import Built, run_archive, site_env
from tests.test_deploys import MARKER, deploy, extraction_of, recorded

pytestmark = pytest.mark.e2e

# Runs the archive in this process, counting the file system calls that Python code
# makes (the boot package's and the site's own; the importer's go to posix directly).
COUNTED = """
import atexit, functools, os, runpy, sys
calls = []
def counted(_real, _name, *args, **kwargs):
    calls.append(_name)
    return _real(*args, **kwargs)
for name in ("stat", "lstat", "scandir", "listdir"):
    # A partial, not a function: Python 3.10's pathlib keeps os.stat as a class
    # attribute, where a function would be bound as a method.
    setattr(os, name, functools.partial(counted, getattr(os, name), name))
atexit.register(lambda: print(f"calls={len(calls)}", file=sys.stderr))
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def counted_run(site: Built, *args: str) -> tuple[subprocess.CompletedProcess[str], int]:
    result = subprocess.run(
        [sys.executable, "-c", COUNTED, str(site.archive), *args],
        cwd=site.work,
        env=site_env(site),
        capture_output=True,
        text=True,
        timeout=300,
    )
    calls = [line for line in result.stderr.splitlines() if line.startswith("calls=")]
    return result, int(calls[-1].removeprefix("calls="))


def marker_of(extraction: Path) -> tuple[int, dict[str, object]]:
    path = extraction / MARKER
    return path.stat().st_ino, json.loads(path.read_text())


def writable(path: Path) -> None:
    path.chmod(0o644)  # as someone who edits a read-only file would


def test_a_warm_start_looks_at_a_constant_number_of_paths(built: Built, tmp_path: Path) -> None:
    site = deploy(built, tmp_path)
    extraction = extraction_of(site)
    before, marker = marker_of(extraction)
    files = marker["files"]
    assert isinstance(files, int) and files > 1000
    result, calls = counted_run(site, "check")
    assert result.returncode == 0, result.stderr
    # The seal: the marker read, a few folders stat'ed; the rest is the site's own
    # (Django's, the configuration's, pruning's), about 230. Before, a stat per file.
    assert calls * 4 < files
    # Nothing unpacked again: the same marker, after a management command ran.
    result, _ = counted_run(site, "check")
    assert result.returncode == 0, result.stderr
    assert marker_of(extraction)[0] == before
    # Reading every file is prepare --check's.
    result, calls = counted_run(site, "prepare", "--check")
    assert result.returncode == 0, result.stderr
    assert calls > files
    assert f"Checked {files} files in {str(extraction)!r}: all as built.\n" in result.stdout
    assert marker_of(extraction)[0] == before


def test_a_start_notices_a_removed_package_and_unpacks_again(built: Built, tmp_path: Path) -> None:
    site = deploy(built, tmp_path)
    extraction = extraction_of(site)
    before, _ = marker_of(extraction)
    site_packages = extraction / "site-packages"
    shutil.rmtree(site_packages / "notes")  # the project's own package
    assert (site_packages / "django").is_symlink()
    (site_packages / "django").unlink()  # the link to the shared layer
    result = run_archive(site, "check")
    assert result.returncode == 0, result.stderr
    assert marker_of(extraction)[0] != before
    assert (site_packages / "notes" / "models.py").is_file()
    assert (site_packages / "django" / "__init__.py").is_file()


def test_prepare_check_repairs_what_a_start_does_not_notice(built: Built, tmp_path: Path) -> None:
    site = deploy(built, tmp_path)
    extraction = extraction_of(site)
    before, marker = marker_of(extraction)
    truncated = "site-packages/notes/templates/notes/home.html"
    edited = "site-packages/django/contrib/admin/static/admin/css/base.css"  # shared
    removed = "site-packages/django/contrib/humanize/templatetags/humanize.py"
    writable(extraction / truncated)
    os.truncate(extraction / truncated, 10)
    writable(extraction / edited)
    content = (extraction / edited).read_bytes()
    (extraction / edited).write_bytes(content.replace(b"a", b"b", 1))  # same size
    (extraction / removed).unlink()
    # A start compares a few folders only: this damage keeps the seal.
    result = run_archive(site, "check")
    assert result.returncode == 0, result.stderr
    assert marker_of(extraction)[0] == before
    assert (extraction / truncated).stat().st_size == 10

    result = run_archive(site, "prepare", "--check")
    assert result.returncode == 0, result.stderr
    damaged = ", ".join(sorted([truncated, edited, removed]))
    assert result.stdout == (
        f"Checked {marker['files']} files in {str(extraction)!r}: 3 not as built "
        f"({damaged}); unpacked it again.\nReady: {extraction}\n"
    )
    digests = recorded(site.archive)
    for name in (truncated, edited, removed):
        assert hashlib.sha256((extraction / name).read_bytes()).hexdigest() == digests[name]
    result = run_archive(site, "prepare", "--check")
    assert result.stdout.startswith(f"Checked {marker['files']} files in ")
    assert ": all as built.\n" in result.stdout
