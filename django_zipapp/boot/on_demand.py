"""Unpacking, once the site runs, files the build left packed that it asks for after all.

A start leaves in the archive what the build left packed (see index.Index.packed), and
keeps the list of those names in its extraction. When the site asks for one of them (a
language's translation catalogue, see django_zipapp/runtime/catalogues.py), this unpacks
it under a folder given by the caller (the extraction's ON_DEMAND folder, or a temporary
one), by its name in the extraction. It may create folders and read-only files there,
each written to a temporary name and renamed into place: processes that ask at the same
time each write a whole file, and never see half of one. It reads the archive, checked
to be the build that made the extraction, and the extraction's list; nothing else.
"""

from __future__ import annotations

import json
import mmap
import os
import threading
import zlib
from pathlib import Path

from .index import Index
from .names import PACKED_NAME, SHIV_ENVIRONMENT, BootError
from .unpack import DamagedEntry, content_of


def left_packed_in(extraction: Path) -> list[str]:
    """The names the extraction left in the archive, as its list has them (none without one)."""
    try:
        return (extraction / PACKED_NAME).read_text().splitlines()
    except OSError:
        return []  # it unpacked everything, or another tool made it


def unpack_on_demand(archive_path: Path, extraction: Path, folder: Path, names: list[str]) -> None:
    """Unpack the named files, which ``extraction`` left packed, under ``folder``.

    BootError when the archive at ``archive_path`` is no longer the build that made the
    extraction (a new one copied over it), when it is damaged, or when a name is not a
    file the build left packed; OSError when ``folder`` cannot be written.
    """
    with Index.of(archive_path) as archive:
        build_id = json.loads(archive.read(SHIV_ENVIRONMENT))["build_id"]
        if not extraction.name.endswith(f"_{build_id}"):
            raise BootError(
                f"{archive_path} is now another build than the one this process started "
                f"from ({extraction.name}): start the process again."
            )
        listed = archive.listed
        unknown = [name for name in names if name not in listed or name not in archive.left_packed]
        if unknown:
            raise BootError(f"{archive_path.name} did not leave {unknown[0]!r} packed.")
        members = [(name, listed[name]) for name in names]
    with (
        open(archive_path, "rb") as file,
        mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data,
    ):
        for name, (member, compress, stored, size, offset, crc) in members:
            try:
                content = content_of(data, member, compress, stored, size, offset)
            except DamagedEntry as exc:
                raise _damaged(archive_path, member) from exc
            if len(content) != size or zlib.crc32(content) != crc:
                raise _damaged(archive_path, member)
            _write(folder / name, content)


def _damaged(archive_path: Path, member: str) -> BootError:
    return BootError(
        f"{archive_path.name} is damaged: its entry {member!r} does not match its CRC-32 "
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
