"""Reading the archive: its directory, the members an extraction holds, their check.

Reads the archive file (through the importer that imported this package from it, else
zipfile) and nothing else: it writes no file and changes no state of the process beyond
its own cache of the archive's index, which forget_index() drops.
"""

from __future__ import annotations

import os
import zipfile
import zipimport
import zlib
from contextlib import suppress
from functools import cached_property
from pathlib import Path
from typing import Any

from .names import (
    BYTECODE,
    HASHES_NAME,
    PACKED_NAME,
    SITE_PACKAGES,
    UNPACK_VARIABLE,
    BootError,
)

# The index read by this process, by archive path: see Index.of().
_cache: dict[Path, Index] = {}


def forget_index() -> None:
    """Drop the index kept for this process: nothing is read from the archive any more."""
    _cache.clear()


def read_archive(archive_path: Path, *names: str) -> list[bytes]:
    """The named members: nothing else of the archive's index is looked at."""
    with Index.of(archive_path) as index:
        return [index.read(name) for name in names]


# A member of the archive as unpack() reads it: its name in the archive, how it is stored
# (zipfile.ZIP_STORED or ZIP_DEFLATED), its stored size, its size, the offset of its local
# header in the file, and its CRC-32.
Member = tuple[str, int, int, int, int, int]


class Index:
    """The archive's members, as Python's importer indexed them, else as zipfile does.

    Python has already read the archive's directory (thousands of entries) to import
    this module: reading through its importer spares parsing it again at every start.
    ``members``: the files an extraction holds, by extracted name (see Member).
    """

    def __init__(self, archive_path: Path) -> None:
        self.path = archive_path
        found = _importer_of(archive_path)
        self.loader: Any = found[0] if found else None
        self.directory: dict[str, tuple[Any, ...]] = found[1] if found else {}
        self.opened = None if found is not None else zipfile.ZipFile(archive_path)

    @cached_property
    def members(self) -> dict[str, Member]:
        packed = self.packed
        return {name: member for name, member in self.listed.items() if name not in packed}

    @cached_property
    def listed(self) -> dict[str, Member]:
        """Every file of an extraction, by extracted name: those left packed as well."""
        if self.opened is not None:
            listed = (
                (info.filename, info.compress_type, info.compress_size, info.file_size,
                 info.header_offset, info.CRC)
                for info in self.opened.infolist()
            )  # fmt: skip
        else:
            # Keyed by the name in the archive, with os.sep; zipimport's entry: path,
            # compress type, stored size, size, offset, time, date, CRC-32.
            listed = (
                (name.replace(os.sep, "/"), entry[1], entry[2], entry[3], entry[4], entry[7])
                for name, entry in self.directory.items()
            )
        prefixes = (f"{SITE_PACKAGES}/", f"{BYTECODE}/")
        return {
            extracted_name(member[0]): member
            for member in listed
            if member[0].startswith(prefixes) and not member[0].endswith("/")
        }

    @cached_property
    def packed(self) -> frozenset[str]:
        """The files an extraction leaves in the archive: those the build left packed.

        Empty when UNPACK_VARIABLE is "all": a tool asks for one of them.
        """
        return frozenset() if unpacks_everything() else self.left_packed

    @cached_property
    def left_packed(self) -> frozenset[str]:
        """The files the build left in the archive, as it recorded them (see PACKED_NAME)."""
        return frozenset(member_text(self, PACKED_NAME).splitlines())

    @property
    def bytecode(self) -> bool:
        """Whether the archive holds bytecode (see BYTECODE)."""
        return any(member[0].startswith(f"{BYTECODE}/") for member in self.members.values())

    @classmethod
    def of(cls, archive_path: Path) -> Index:
        """The archive's index: read once per process from the importer's."""
        cached = _cache.get(archive_path)
        if cached is not None and cached.opened is None:
            return cached
        index = cls(archive_path)
        if index.opened is None:
            _cache.clear()
            _cache[archive_path] = index
        return index

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.opened is not None:
            self.opened.close()

    def read(self, name: str) -> bytes:
        """A member's content; KeyError when the archive has none of that name."""
        if self.opened is not None:
            return self.opened.read(name)
        if name.replace("/", os.sep) not in self.directory:
            raise KeyError(name)
        return bytes(self.loader.get_data(name.replace("/", os.sep)))


def _importer_of(archive_path: Path) -> tuple[Any, dict[str, tuple[Any, ...]]] | None:
    """The importer that imported this module from the archive, and its index of it."""
    loader = globals().get("__loader__")
    if isinstance(loader, zipimport.zipimporter):
        with suppress(OSError):
            if os.path.samefile(loader.archive, archive_path):
                directory = getattr(zipimport, "_zip_directory_cache", {}).get(loader.archive)
                if directory:  # run() empties it once the site is unpacked
                    return loader, directory
    return None


def extracted_name(member: str) -> str:
    """Where a member of the archive goes in an extraction (see BYTECODE)."""
    if not member.startswith(f"{BYTECODE}/"):
        return member
    folder, _, name = member[len(BYTECODE) + 1 :].rpartition("/")
    return f"{SITE_PACKAGES}/{folder}{'/' if folder else ''}__pycache__/{name}"


def unpacks_everything() -> bool:
    """Whether this start unpacks what the build left packed too (see PACKED_NAME)."""
    return os.environ.get(UNPACK_VARIABLE) == "all"


def recorded_hashes(archive: Index) -> dict[str, str]:
    return _parse_hashes(member_text(archive, HASHES_NAME))


def member_text(archive: Index, name: str) -> str:
    try:
        return archive.read(name).decode()
    except KeyError:  # built before it was recorded
        return ""


def _parse_hashes(text: str) -> dict[str, str]:
    lines = (line.partition("  ") for line in text.splitlines())
    return {name: digest for digest, _, name in lines}


def check_intact(archive_path: Path) -> None:
    """Read every entry: a damaged one is named (extraction checks each as it unpacks)."""
    try:
        bad = _first_bad_entry(archive_path)
    except (OSError, zipfile.BadZipFile, EOFError, ValueError) as exc:
        raise damaged(archive_path, "", f"it cannot be read ({exc})") from None
    if bad is not None:
        raise damaged(archive_path, bad)


def damaged(archive_path: Path, entry: str, reason: str = "") -> BootError:
    reason = reason or f"its entry {entry!r} does not match its CRC-32 checksum"
    size, built = archive_path.stat().st_size, _launcher_size(archive_path)
    sizes = f"{size} bytes" + (
        "" if built is None else ", as built" if built == size else f"; built with {built}"
    )
    return BootError(
        f"{archive_path.name} is damaged: {reason} (the file has {sizes}). Download or build "
        "it again; nothing was unpacked."
    )


def _first_bad_entry(archive_path: Path) -> str | None:
    with zipfile.ZipFile(archive_path) as archive:
        for info in archive.infolist():
            try:
                with archive.open(info) as entry:
                    while entry.read(1 << 20):  # zipfile checks the CRC-32 at the end
                        pass
            except (zipfile.BadZipFile, zlib.error, EOFError):
                return info.filename
    return None


def _launcher_size(archive_path: Path) -> int | None:
    with archive_path.open("rb") as file:
        first = file.readline(300)
    for part in first.split(b";"):
        if part.startswith(b"s=") and part[2:].strip().isdigit():
            return int(part[2:])
    return None
