"""Pruning old extractions in a real directory, with real locks (no archive needed)."""

from __future__ import annotations

import os
from pathlib import Path

from django_zipapp.boot.extract import hold_extraction
from django_zipapp.boot.locks import build_lock, locked
from django_zipapp.boot.names import COMPLETE_MARKER, STAMP, STORE
from django_zipapp.boot.prune import prune_builds


def extraction(root: Path, number: int, finished_at: int) -> Path:
    path = root / f"site.pyz_{number:064x}"
    (path / "site-packages").mkdir(parents=True)
    (path / COMPLETE_MARKER).write_text("{}")
    build_lock(path).touch()
    os.utime(path, (finished_at, finished_at))
    return path


def test_keeps_the_newest_and_the_running_one(tmp_path: Path) -> None:
    builds = [extraction(tmp_path, number, 1_000 * number) for number in range(1, 6)]
    current = builds[-1]
    unrelated = [tmp_path / "site.pyz_notes", tmp_path / f"other.pyz_{1:064x}"]
    for path in unrelated:
        (path / "site-packages").mkdir(parents=True)
    held = hold_extraction(builds[0])  # the oldest still serves somewhere
    assert held is not None
    try:
        removed = prune_builds(current, keep=2)
    finally:
        os.close(held)
    assert removed == builds[1:3][::-1]
    left = sorted(p.name for p in tmp_path.iterdir())
    kept = [builds[0], builds[3], current]
    expected = [f".{p.name}.lock" for p in kept] + [p.name for p in kept + unrelated]
    assert left == sorted(expected)
    # Released: the next prune removes it.
    assert prune_builds(current, keep=2) == [builds[0]]


def test_leftovers_of_killed_starts_are_removed_unless_in_progress(tmp_path: Path) -> None:
    current = extraction(tmp_path, 9, 9_000)
    abandoned = tmp_path / f".site.pyz_{1:064x}.tmp-abc"
    half_deleted = tmp_path / f".{current.name}.trash-def"
    in_progress = tmp_path / f".site.pyz_{2:064x}.tmp-ghi"
    for path in (abandoned, half_deleted, in_progress):
        (path / "site-packages").mkdir(parents=True)
    # Another extraction of build 2 is under way: its lock is taken.
    with locked(tmp_path / f".site.pyz_{2:064x}.lock"):
        prune_builds(current, keep=3)
    assert not abandoned.exists()
    assert not half_deleted.exists()
    assert in_progress.is_dir()
    assert not (tmp_path / f".site.pyz_{1:064x}.lock").exists()


def test_pruning_the_store_removes_unused_layers_with_their_stamps(tmp_path: Path) -> None:
    current = extraction(tmp_path, 9, 9_000)
    store = tmp_path / STORE
    used, unused = store / "a", store / "b"
    for layer in (used, unused):
        (layer / "django").mkdir(parents=True)
        (layer / COMPLETE_MARKER).touch()
        (layer / STAMP).write_text("{}")
    os.symlink("../../.shared/a/django", current / "site-packages" / "django")
    # What a start killed while it wrote a stamp left behind.
    (used / f"{STAMP}.tmp-x1y2").write_text('{"since": 1')
    prune_builds(current, keep=3)
    assert sorted(p.name for p in store.iterdir()) == ["a"]
    assert sorted(p.name for p in used.iterdir()) == sorted([COMPLETE_MARKER, STAMP, "django"])
