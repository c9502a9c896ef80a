"""The locks between processes that start, extract and prune the same archive.

flock() on lock files beside the extractions (one per build, one for the shared store):
it may create and open those lock files, never remove them (pruning does), and touches
nothing else.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .names import STORE


def build_lock(extraction: Path) -> Path:
    return extraction.with_name(f".{extraction.name}.lock")


def store_lock(root: Path) -> Path:
    return root / f"{STORE}.lock"


@contextmanager
def locked(path: Path, *, blocking: bool = True, shared: bool = False) -> Iterator[bool]:
    """An exclusive (or shared) lock on ``path``; ``blocking=False``: False when taken."""
    kind = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
    while True:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(descriptor, kind | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(descriptor)
            yield False
            return
        # The pruner deletes the lock files of the builds it removes; a lock taken on a
        # deleted file guards nothing, so take it again on the current one.
        if _same_file(descriptor, path):
            break
        os.close(descriptor)
    try:
        yield True
    finally:
        os.close(descriptor)


def _same_file(descriptor: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(descriptor), os.stat(path))
    except FileNotFoundError:
        return False
