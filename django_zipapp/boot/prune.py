"""Pruning: old builds' extractions, what killed starts left behind, unused store entries.

Removes only what it can prove unused: folders named "<archive>_<build id>" whose lock
it takes (no running process holds them), temporary and half-deleted folders of those
names, and, through store.prune_store(), store entries no extraction links to. A folder
of any other name is never touched. Called by the runtime once the configuration
(KEEP_BUILDS) is known, and by extract.py for its own build's leftovers.
"""

from __future__ import annotations

import fcntl
import os
import re
from collections.abc import Iterator
from pathlib import Path

from .locks import build_lock, locked
from .names import COMPLETE_MARKER, INTERPRETER_SUFFIX, SITE_PACKAGES
from .store import prune_store


def prune_builds(extraction: Path, keep: int) -> list[Path]:
    """Remove the extractions of other builds of this archive beyond the newest ``keep``.

    ``keep`` counts ``extraction`` itself. A build that a running process holds (see
    hold_extraction) or that is being extracted is skipped.
    """
    root = extraction.parent
    if not root.is_dir():
        return []
    name = extraction.name.rpartition("_")[0]
    others = sorted(
        (path for path in _builds_of(root, name) if path != extraction),
        key=_finished_at,
        reverse=True,
    )
    removed = [path for path in others[max(keep - 1, 0) :] if _remove_unused(path)]
    for path in removed:
        interpreter = path.with_name(path.name + INTERPRETER_SUFFIX)
        if interpreter.is_dir():
            discard(interpreter)
    remove_leftovers(root, name)
    remove_interpreter_leftovers(root, name)
    prune_store(root)
    return removed


def remove_interpreter_leftovers(root: Path, archive_name: str, age: float = 3600) -> None:
    """What a killed launcher left while unpacking an interpreter, once surely abandoned."""
    import shutil
    import time

    pattern = re.compile(
        r"\."
        + re.escape(archive_name)
        + r"_[0-9a-f]{16,}"
        + re.escape(INTERPRETER_SUFFIX)
        + r"\.tmp-"
    )
    for entry in os.scandir(root):
        if pattern.match(entry.name) and entry.stat().st_mtime < time.time() - age:
            shutil.rmtree(entry.path, ignore_errors=True)


def _finished_at(extraction: Path) -> float:
    # A folder's own mtime changes with its top-level entries: the marker is the last.
    try:
        return extraction.stat().st_mtime
    except FileNotFoundError:  # removed meanwhile by another start
        return 0.0


def _builds_of(root: Path, name: str) -> Iterator[Path]:
    # "<name>_<build id>" (shiv's own naming, which its bootstrap looks up) holding an
    # extraction: nothing else in the directory is ever removed.
    pattern = re.compile(re.escape(name) + r"_[0-9a-f]{16,}")
    for entry in os.scandir(root):
        if pattern.fullmatch(entry.name) and entry.is_dir(follow_symlinks=False):
            path = Path(entry.path)
            if (path / COMPLETE_MARKER).exists() or (path / SITE_PACKAGES).is_dir():
                yield path


def _remove_unused(extraction: Path) -> bool:
    lock = build_lock(extraction)
    with locked(lock, blocking=False) as acquired:
        if not acquired:
            return False  # being extracted right now
        try:
            marker = os.open(extraction / COMPLETE_MARKER, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            marker = None  # never finished, or extracted by plain shiv: nobody trusts it
        try:
            if marker is not None:
                fcntl.flock(marker, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # a running process uses it
        else:
            discard(extraction)
            lock.unlink(missing_ok=True)
        finally:
            if marker is not None:
                os.close(marker)
    return True


def discard(path: Path) -> None:
    import shutil
    import tempfile

    # Renamed aside first: a process that looks at the path meanwhile finds nothing
    # rather than a half-deleted tree.
    trash = tempfile.mkdtemp(prefix=f".{path.name}.trash-", dir=path.parent)
    os.rename(path, os.path.join(trash, path.name))
    shutil.rmtree(trash, ignore_errors=True)


def remove_leftovers(root: Path, archive_name: str) -> None:
    """Remove what killed starts left behind: temporary and half-deleted extractions.

    A temporary directory goes only when its build's lock is free: an extraction under
    way is never touched.
    """
    import shutil

    pattern = re.compile(r"\.(" + re.escape(archive_name) + r"_[0-9a-f]{16,})\.(tmp|trash)-")
    for entry in os.scandir(root):
        match = pattern.match(entry.name)
        if match is None:
            continue
        if match[2] == "trash":
            shutil.rmtree(entry.path, ignore_errors=True)
            continue
        extraction = root / match[1]
        with locked(build_lock(extraction), blocking=False) as acquired:
            if acquired:
                shutil.rmtree(entry.path, ignore_errors=True)
                if not extraction.exists():
                    build_lock(extraction).unlink(missing_ok=True)


def remove_own_leftovers(extraction: Path) -> None:
    import shutil

    # Called with the build's lock held: nobody else is extracting this build.
    for kind in ("tmp", "trash"):
        for path in extraction.parent.glob(f".{extraction.name}.{kind}-*"):
            shutil.rmtree(path, ignore_errors=True)
