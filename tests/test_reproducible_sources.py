"""--check-reproducible copies what a build reads: the repository, not only manage.py's folder."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from .archives import build_in, copy_example

pytestmark = pytest.mark.heavy


def test_requirements_one_folder_up(tmp_path: Path) -> None:
    repository = tmp_path / "repository"
    site = copy_example(repository / "site")
    # The repository's requirements.txt, beside the site's folder: found up to .git.
    (site / "requirements.txt").rename(repository / "requirements.txt")
    git = ["git", "-C", str(repository), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "site"], check=True)
    twice = build_in(site, "--check-reproducible")
    assert twice.returncode == 0, twice.stdout + twice.stderr
    assert twice.stdout.splitlines()[-1] == "Two builds in separate copies are byte-identical."
