"""The seal of a finished extraction: what a warm start compares instead of every file.

An extraction's integrity is established once, when it is unpacked (every member checked
against its CRC-32) or by ``prepare --check`` (every file against the archive, see
verify.py). The seal, recorded in its COMPLETE_MARKER, holds identities that the kernel
changes with what they name and that nobody can set back: the inode of the extraction's
folder, the inode, mtime and ctime of its site-packages folder (any entry added, removed
or renamed at its top moves both times; only the kernel sets a ctime), and the inode of
each store entry it links to. A warm start reads the marker and stats those few folders:
a constant number of system calls, whatever the number of files. This module only reads:
the marker through a descriptor it is given, and the stat of those folders.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .names import SITE_PACKAGES, STORE


def seal_of(extraction: Path) -> dict[str, Any]:
    """The seal of an extraction whose files are all in place (before its marker is written).

    Lists site-packages once, for the store entries its links point to.
    """
    store = sorted(
        {
            os.readlink(entry.path).split(os.sep)[-2]
            for entry in os.scandir(extraction / SITE_PACKAGES)
            if entry.is_symlink()
        }
    )
    return _seal(extraction, store)


def is_sealed(extraction: Path, marker: int) -> bool:
    """Whether the finished extraction still has the seal its marker (open as ``marker``) records.

    One read and 2 + (store entries linked) stats: a missing, added or renamed entry at the top
    of site-packages, a replaced folder or store entry, or a marker without a seal (written by
    another tool) is found. What changes deeper inside is not: see verify.py.
    """
    try:
        recorded = json.loads(os.pread(marker, 1 << 16, 0))["seal"]
        return bool(recorded == _seal(extraction, list(recorded["store"])))
    except (OSError, ValueError, TypeError, KeyError):
        return False


def _seal(extraction: Path, store: list[str]) -> dict[str, Any]:
    site_packages = os.stat(extraction / SITE_PACKAGES)
    return {
        "extraction": os.stat(extraction).st_ino,
        SITE_PACKAGES: [
            site_packages.st_ino,
            site_packages.st_mtime_ns,
            site_packages.st_ctime_ns,
        ],
        "store": {key: os.stat(extraction.parent / STORE / key).st_ino for key in store},
    }
