"""Compressed static files kept between builds, in the build cache.

whitenoise compresses every collected file with brotli and gzip on every build, the
slowest part of collecting static files. Its output is a function of the file's bytes
and of the versions of whitenoise, brotli, zlib and Python, so an entry is stored as
``<cache>/static/<algorithm>/<those versions>/<sha256 of the input>``. An entry is
decompressed and compared with the input before it is used: a damaged one is made
again and replaced, never shipped. The compressing itself stays whitenoise's.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from whitenoise.compress import Compressor

STATIC_SUBDIR = "static"
PARTIAL_PREFIX = ".partial-"
# Entries no build used for this long are removed; a build looks at most once a day.
MAX_AGE = 30 * 24 * 3600
PRUNE_EVERY = 24 * 3600
PRUNED_MARKER = ".pruned"
# What a killed build left half-written, once no build can still be writing it.
STALE_PARTIAL = 6 * 3600


class CompressionCache:
    """The cache's static part; counts the entries it reused and those it had to make."""

    def __init__(self, cache_dir: Path) -> None:
        self.root = cache_dir / STATIC_SUBDIR
        # By entry: a file and its hashed copy have one content, so one entry.
        self._reused: set[Path] = set()
        self._made: set[Path] = set()
        self._lock = threading.Lock()  # whitenoise compresses in a thread pool

    @property
    def reused(self) -> int:
        """Entries an earlier build made, used by this one."""
        return len(self._reused - self._made)

    @property
    def made(self) -> int:
        return len(self._made)

    def compressed(
        self,
        algorithm: str,
        data: bytes,
        compress: Callable[[bytes], bytes],
        matches: Callable[[bytes, bytes], bool],
    ) -> bytes:
        versions = _versions(algorithm)
        if versions is None:
            return compress(data)
        entry = self.root / algorithm / versions / hashlib.sha256(data).hexdigest()
        cached = _read(entry)
        if cached is not None and matches(cached, data):
            _touch(entry)
            self._count(self._reused, entry)
            return cached
        result = compress(data)
        _write(entry, result)
        self._count(self._made, entry)
        return result

    def prune(self, now: float | None = None) -> None:
        """Remove the entries unused for MAX_AGE; cheap: a walk at most once a day."""
        now = time.time() if now is None else now
        marker = self.root / PRUNED_MARKER
        try:
            if now - marker.stat().st_mtime < PRUNE_EVERY:
                return
        except OSError:
            pass  # never pruned (or unreadable): look now
        for directory, _, files in os.walk(self.root, topdown=False):
            for name in files:
                _remove_if_old(Path(directory, name), now)
            if directory != str(self.root):
                _remove_if_empty(directory)
        with contextlib.suppress(OSError):  # a cache that cannot be written: slower builds
            marker.touch()

    def _count(self, entries: set[Path], entry: Path) -> None:
        with self._lock:
            entries.add(entry)


class CachedCompressor(Compressor):  # type: ignore[misc]  # whitenoise ships no types
    """whitenoise's own Compressor, its brotli and gzip output memoised in the cache."""

    def __init__(self, *args: Any, cache: CompressionCache, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cache = cache
        # The header whitenoise writes (no name, no time): an entry with another header
        # would decompress alike, yet make the archive differ from a clean build's.
        self.gzip_header: bytes = super().compress_gzip(b"")[:10]

    def compress_brotli(self, data: bytes) -> bytes:
        made: bytes = self.cache.compressed("brotli", data, super().compress_brotli, _brotli_of)
        return made

    def compress_gzip(self, data: bytes) -> bytes:
        made: bytes = self.cache.compressed("gzip", data, super().compress_gzip, self._gzip_of)
        return made

    def _gzip_of(self, compressed: bytes, data: bytes) -> bool:
        if compressed[:10] != self.gzip_header:
            return False
        decompressor = zlib.decompressobj(wbits=31)  # gzip framing, its CRC and length checked
        try:
            # At most one byte more than expected: a damaged entry cannot expand unbounded.
            found = decompressor.decompress(compressed, len(data) + 1)
        except zlib.error:
            return False
        return found == data and decompressor.eof and not decompressor.unused_data


def _brotli_of(compressed: bytes, data: bytes) -> bool:
    import brotli

    try:
        return bool(brotli.decompress(compressed) == data)
    except Exception:  # a damaged entry raises whatever the decoder meets: not a match
        return False


@functools.cache
def _versions(algorithm: str) -> str | None:
    """What the output depends on beside the input; None when a version is not known."""
    try:
        whitenoise = f"whitenoise-{version('whitenoise')}"
        if algorithm == "brotli":
            return f"{whitenoise},brotli-{version('brotli')}"
    except PackageNotFoundError:
        return None
    python = f"python-{sys.version_info[0]}.{sys.version_info[1]}"
    return f"{whitenoise},zlib-{zlib.ZLIB_RUNTIME_VERSION},{python}"


def _read(entry: Path) -> bytes | None:
    try:
        return entry.read_bytes()
    except OSError:
        return None


def _touch(entry: Path) -> None:
    with contextlib.suppress(OSError):
        os.utime(entry)  # used now: kept for another MAX_AGE


def _write(entry: Path, data: bytes) -> None:
    # Under a temporary name, then renamed: a concurrent build reads a whole entry or none.
    partial = None
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        descriptor, partial = tempfile.mkstemp(prefix=PARTIAL_PREFIX, dir=entry.parent)
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
        os.replace(partial, entry)
    except OSError:
        if partial is not None:
            Path(partial).unlink(missing_ok=True)


def _remove_if_old(path: Path, now: float) -> None:
    try:
        age = now - path.stat().st_mtime
        partial = path.name.startswith(PARTIAL_PREFIX)
        if age > MAX_AGE or (partial and age > STALE_PARTIAL):
            path.unlink()
    except OSError:
        pass  # removed by a concurrent build, or not ours to remove


def _remove_if_empty(directory: str) -> None:
    with contextlib.suppress(OSError):  # not empty
        os.rmdir(directory)
