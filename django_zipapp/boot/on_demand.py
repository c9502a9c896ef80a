"""Unpacking, once the site runs, files the build left packed that it asks for after all.

A start leaves in the archive what the build left packed (see index.Index.packed), and
keeps the list of those names in its extraction. When the site asks for one of them (a
language's translation catalogue, see django_zipapp/runtime/catalogues.py), this unpacks
it under a folder given by the caller (the extraction's ON_DEMAND folder, or a temporary
one), by its name in the extraction. It may create folders and read-only files there,
each written to a temporary name and renamed into place: processes that ask at the same
time each write a whole file, and never see half of one. It reads the archive as the
process mapped it when it started (see map_archive), checked to be the build that made
the extraction, and the extraction's list; nothing else.
"""

from __future__ import annotations

import json
import mmap
import os
import threading
import zipfile
import zlib
from pathlib import Path

from .index import Member
from .names import PACKED_NAME, SHIV_ENVIRONMENT, BootError
from .unpack import DamagedEntry, content_of


def left_packed_in(extraction: Path) -> list[str]:
    """The names the extraction left in the archive, as its list has them (none without one)."""
    try:
        return (extraction / PACKED_NAME).read_text().splitlines()
    except OSError:
        return []  # it unpacked everything, or another tool made it


def map_archive(archive_path: Path) -> mmap.mmap:
    """The archive's bytes as they are now, for unpack_on_demand; OSError if unreadable.

    Mapped when a process starts, so that it keeps reading the build it started from:
    a deploy renames the next build into place (the mapping keeps the old file), and a
    running process must not unpack the next build's files into its own extraction.
    """
    with open(archive_path, "rb") as file:
        try:
            return mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        except ValueError:  # an empty file
            raise OSError(f"{archive_path} is empty") from None


def unpack_on_demand(
    data: mmap.mmap, archive_name: str, extraction: Path, folder: Path, names: list[str]
) -> None:
    """Unpack the named files, which ``extraction`` left packed, under ``folder``.

    ``data``: the archive, as map_archive() mapped it when the process started.
    BootError when it is not the build that made the extraction (a new one was written
    over the old file in place), when it is damaged, or when a name is not a file the
    build left packed; OSError when ``folder`` cannot be written.
    """
    try:
        members = _members(data, archive_name, extraction, names)
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise BootError(f"{archive_name} is damaged ({exc}): start the process again.") from None
    for name, (member, compress, stored, size, offset, crc) in members:
        try:
            content = content_of(data, member, compress, stored, size, offset)
        except DamagedEntry as exc:
            raise _damaged(archive_name, member) from exc
        if len(content) != size or zlib.crc32(content) != crc:
            raise _damaged(archive_name, member)
        _write(folder / name, content)


def _members(
    data: mmap.mmap, archive_name: str, extraction: Path, names: list[str]
) -> list[tuple[str, Member]]:
    # zipfile seeks in the mapping: each process has its own position (its own copy of
    # the object), and the caller holds a lock for the threads of one.
    with zipfile.ZipFile(_File(data)) as archive:
        build_id = json.loads(archive.read(SHIV_ENVIRONMENT))["build_id"]
        if not extraction.name.endswith(f"_{build_id}"):
            raise BootError(
                f"{archive_name} is no longer the build this process started from "
                f"({extraction.name}): start the process again."
            )
        left_packed = frozenset(archive.read(PACKED_NAME).decode().splitlines())
        unknown = [name for name in names if name not in left_packed]
        if unknown:
            raise BootError(f"{archive_name} did not leave {unknown[0]!r} packed.")
        infos = [archive.getinfo(name) for name in names]
    return [
        (info.filename, (info.filename, info.compress_type, info.compress_size,
                         info.file_size, info.header_offset, info.CRC))
        for info in infos
    ]  # fmt: skip


class _File:
    """The mapping, read as a file by zipfile: mmap has no seekable() before Python 3.13."""

    def __init__(self, data: mmap.mmap) -> None:
        self.data = data
        data.seek(0)

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = os.SEEK_SET, /) -> int:
        start = {os.SEEK_SET: 0, os.SEEK_CUR: self.data.tell(), os.SEEK_END: len(self.data)}
        self.data.seek(start[whence] + offset)
        return self.data.tell()

    def tell(self) -> int:
        return self.data.tell()

    def read(self, n: int = -1, /) -> bytes:
        return self.data.read(n)


def _damaged(archive_name: str, member: str) -> BootError:
    return BootError(
        f"{archive_name} is damaged: its entry {member!r} does not match its CRC-32 "
        "checksum. Download or build it again."
    )


def _write(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # A name of this process and thread's own: another that writes the same file at the
    # same time renames the same bytes into place.
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}-{threading.get_ident()}")
    try:
        with open(temporary, "xb") as file:
            file.write(content)
        os.chmod(temporary, 0o444)  # read-only, as every unpacked file
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
