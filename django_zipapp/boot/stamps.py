"""Stamps: what a shared store entry's files were when their content was last known good.

Reads the stat of the files of one store entry and writes that entry's stamp file
(STAMP, under a temporary name, then renamed); it never reads or changes the files it
vouches for.
"""

from __future__ import annotations

import json
import os
import stat
from contextlib import suppress
from pathlib import Path

from .names import STAMP

# A file changed in the same clock tick as the stat that the stamp records for it would
# keep that stat. The stamp's reference time is taken from the file system's own clock
# (a file created before any stat is taken), so such a change always carries a ctime at
# or after it: a file whose ctime is not older than the reference is hashed again rather
# than trusted, as git does for its index's racily clean entries.


class Stamp:
    """What a store entry's files were when their content was last known good.

    The stamp file, JSON: "since", the reference time (see STAMP), and
    "files", for each file: [st_ino, st_size, st_mtime_ns, st_ctime_ns, st_mode] as
    lstat() gave it before the content was known. A stamp that cannot be read, or is not
    what this code writes, vouches for nothing. Written under a temporary name and
    renamed: a reader finds the old stamp or the new, whole.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.since, self.files = self._read()
        self.known: dict[str, list[int]] = {}
        self.stale = False
        self.temporary: str | None = None
        self.reference = 0

    def _read(self) -> tuple[int, dict[str, list[int]]]:
        try:
            content = json.loads((self.folder / STAMP).read_bytes())
            since, files = content["since"], content["files"]
            if type(since) is int and type(files) is dict:
                return since, files
        except (OSError, ValueError, TypeError, KeyError):
            pass
        return 0, {}

    def unvouched(self, names: list[str]) -> list[str]:
        """The files (by name inside the entry) the stamp does not vouch for.

        It vouches for a read-only regular file that is as recorded, and was recorded
        safely before it changed. One lstat() each: thousands for a big site, in one loop.
        """
        folder, recorded, known = f"{self.folder}{os.sep}", self.files, self.known
        since = self.since
        left = []
        for name in names:
            try:
                now = _identity(os.lstat(folder + name))
            except OSError:
                left.append(name)
                continue
            if (
                recorded.get(name) != now
                or now[3] >= since
                or not stat.S_ISREG(now[4])
                or now[4] & 0o222
            ):
                left.append(name)
            else:
                known[name] = now
        return left

    def begin(self) -> None:
        """Take the reference time: before any stat that this stamp will record."""
        import tempfile

        try:
            descriptor, self.temporary = tempfile.mkstemp(prefix=f"{STAMP}.tmp-", dir=self.folder)
            with open(descriptor, "wb"):
                self.reference = os.stat(self.temporary).st_ctime_ns
        except OSError:
            self.temporary = None  # a store this user cannot write to: check, stamp nothing
        self.stale = True

    def record(self, name: str) -> bool:
        """Note the file's stat (before its content is checked); False when it has none."""
        try:
            self.known[name] = _identity(os.lstat(os.path.join(self.folder, name)))
        except OSError:
            return False
        return True

    def save(self) -> None:
        if not self.stale or self.temporary is None:
            return
        content = {"since": self.reference, "files": dict(sorted(self.known.items()))}
        try:
            with open(self.temporary, "w") as file:
                # dumps, not dump: json.dump encodes in Python, dumps in C.
                file.write(json.dumps(content, separators=(",", ":")))
            os.rename(self.temporary, self.folder / STAMP)
            self.temporary = None
        except OSError:
            pass  # a stamp is only a shortcut: without one, the next build hashes

    def end(self) -> None:
        if self.temporary is not None:
            with suppress(OSError):
                os.unlink(self.temporary)
            self.temporary = None


def _identity(stat: os.stat_result) -> list[int]:
    return [stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_mode]
