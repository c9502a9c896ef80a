"""Unpacking members of the archive into a directory, each checked against its CRC-32.

Reads the archive through a memory map and creates the folders and read-only files it is
given under the target directory, which must not hold them yet. Nothing else: where the
target is, and what becomes of it, is extract.py's and store.py's business.
"""

from __future__ import annotations

import mmap
import os
import struct
import zipfile
import zlib
from collections.abc import Iterable
from contextlib import suppress
from pathlib import Path

from .index import Member


class DamagedEntry(Exception):
    def __init__(self, name: str, reason: str = "") -> None:
        self.name = name
        self.reason = reason  # damaged()'s, when not a CRC-32 that does not match


def _make_folders(temporary: Path, names: Iterable[str]) -> None:
    folders: set[str] = set()
    for name in names:
        folder = os.path.dirname(name)
        while folder and folder not in folders:
            folders.add(folder)
            folder = os.path.dirname(folder)
    # A parent sorts before what it holds: one mkdir each, and no stat (thousands of
    # folders for a big site, most of them locale folders).
    for folder in sorted(folders):
        with suppress(FileExistsError):
            os.mkdir(os.path.join(temporary, folder))


def usable_cores() -> int:
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


# Fewer files than this (a new build's own, with the rest shared) are not worth starting
# threads for.
UNPACK_IN_ONE_THREAD = 64


_LOCAL_HEADER = struct.Struct("<4s22xHH")  # signature, ..., name length, extra length


def unpack(archive_path: Path, target: Path, members: list[tuple[str, Member]]) -> None:
    """Decompress the members into target, spread over the cores, each file read-only.

    ``members``: (extracted name, member) pairs. The archive is mapped into memory once
    and every thread reads from that map, which costs no system call per member and
    parses nothing again. zlib lets go of the interpreter's lock while it inflates, and
    os.open() and os.write() while the kernel works: threads run in parallel. Every
    member is checked against its CRC-32 and its size before its file is written.
    """
    _make_folders(target, (name for name, _ in members))
    with (
        open(archive_path, "rb") as file,
        mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data,
    ):
        if len(members) < UNPACK_IN_ONE_THREAD:
            _unpack_members(data, target, members)
            return
        from concurrent.futures import ThreadPoolExecutor

        workers = min(usable_cores(), 8)
        # Every worker takes one member in N, by size: the work comes out even.
        ordered = sorted(members, key=lambda item: item[1][3], reverse=True)
        chunks = [ordered[index::workers] for index in range(workers)]
        with ThreadPoolExecutor(workers) as pool:
            for done in [pool.submit(_unpack_members, data, target, chunk) for chunk in chunks]:
                done.result()


def _unpack_members(data: mmap.mmap, target: Path, members: list[tuple[str, Member]]) -> None:
    base = f"{target}{os.sep}"
    for name, (member, compress, stored, size, offset, crc) in members:
        content = content_of(data, member, compress, stored, size, offset)
        if len(content) != size or zlib.crc32(content) != crc:
            raise DamagedEntry(member)
        # Read-only: a file may be shared with later builds (see share_entries).
        descriptor = os.open(
            base + name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444
        )
        try:
            # os.write on the descriptor: a file object would add an fstat and an ioctl
            # for each of thousands of files.
            view = memoryview(content)
            while view:
                view = view[os.write(descriptor, view) :]
        finally:
            os.close(descriptor)


def content_of(
    data: mmap.mmap, member: str, compress: int, stored: int, size: int, offset: int
) -> bytes:
    """A member's bytes, inflated; DamagedEntry when the archive holds no valid ones.

    The builder stores members whole or deflated (zipfile.ZIP_STORED, ZIP_DEFLATED).
    """
    try:
        signature, name_length, extra_length = _LOCAL_HEADER.unpack_from(data, offset)
    except struct.error:  # past the end of the file
        signature = b""
    if signature != b"PK\x03\x04":
        raise DamagedEntry(member, f"its entry {member!r} has no valid local header")
    start = offset + _LOCAL_HEADER.size + name_length + extra_length
    if compress == zipfile.ZIP_STORED:
        return data[start : start + stored]
    if compress != zipfile.ZIP_DEFLATED:
        raise DamagedEntry(
            member, f"its entry {member!r} uses compression method {compress}, not deflate"
        )
    try:
        return zlib.decompress(data[start : start + stored], -15, size)
    except zlib.error:
        raise DamagedEntry(member) from None
