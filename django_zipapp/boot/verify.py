"""Checking every file of an extraction against the archive (``prepare --check``).

A warm start compares only the seal (see seal.py): a file edited, truncated or removed
deep inside a package keeps it. This check reads every file the archive puts in the
extraction, through the links into the shared store, and compares its type, mode, size
and SHA-256 (as the build recorded it; else the archive's CRC-32). It only reads: the
archive's index and the extraction's files; repairing is extract.py's.
"""

from __future__ import annotations

import hashlib
import os
import stat
import zlib
from itertools import chain
from pathlib import Path

from .index import Index, Member, recorded_hashes
from .names import ON_DEMAND
from .unpack import usable_cores


def damaged_files(
    archive_path: Path, extraction: Path, *, left_packed: bool = False
) -> tuple[int, list[str]]:
    """How many files were checked, and those not as built (by their name in the extraction).

    ``left_packed``: the extraction left the files the build left packed in the archive
    (see index.Index.left_packed); they are not looked for, even when this start
    unpacks everything.
    """
    from concurrent.futures import ThreadPoolExecutor

    with Index.of(archive_path) as archive:
        members = dict(archive.members)
        hashes = recorded_hashes(archive)
        skipped = archive.left_packed if left_packed else frozenset()
        # What the site asked for later is checked where it was unpacked (on_demand.py).
        for name in skipped:
            if os.path.lexists(extraction / ON_DEMAND / name):
                members[f"{ON_DEMAND}/{name}"] = archive.listed[name]
                if name in hashes:
                    hashes[f"{ON_DEMAND}/{name}"] = hashes[name]
    # hashlib and zlib let go of the interpreter's lock: threads read in parallel.
    names = sorted(name for name in members if name not in skipped)
    workers = max(min(usable_cores(), 8, len(names)), 1)

    def damaged(names: list[str]) -> list[str]:
        base = f"{extraction}{os.sep}"
        return [
            name for name in names if not _as_built(base + name, members[name], hashes.get(name))
        ]

    with ThreadPoolExecutor(workers) as pool:
        found = pool.map(damaged, [names[index::workers] for index in range(workers)])
        return len(names), sorted(chain.from_iterable(found))


def _as_built(path: str, member: Member, digest: str | None) -> bool:
    try:
        status = os.stat(path)  # through a link into the store
        if (
            not stat.S_ISREG(status.st_mode)
            or status.st_mode & 0o222
            or status.st_size != member[3]
        ):
            return False
        sha256, crc = hashlib.sha256(), 0
        with open(path, "rb") as file:
            while block := file.read(1 << 20):
                if digest is None:
                    crc = zlib.crc32(block, crc)
                else:
                    sha256.update(block)
        return sha256.hexdigest() == digest if digest is not None else crc == member[5]
    except OSError:
        return False
