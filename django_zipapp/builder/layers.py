"""The archive's dependency layer: its zip members, written once per set of dependencies.

An archive is written in two parts. The first holds what the dependencies installed,
with their bytecode, as a zip file of its own; the second (the project, shiv's bootstrap,
the build record) is appended to a copy of it. The dependencies change far less often
than the project, so the first part is kept in the builder's cache, under a key made of
what determines its bytes: a rebuild whose dependencies did not change copies it instead
of compressing some thousands of files again. A clean build writes the part the same
way, then copies it, so that both give the same archive, byte for byte.

The dependency members carry a fixed date (the zip epoch) rather than the build's, so
that the part does not change with every commit. A cached part is checked against the
SHA-256 recorded when it was written, as it is copied; one that does not match is
written again, as is one whose record of hashes does not match its own checksum.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from shiv.builder import rglob_follow_symlinks, write_to_zipapp

from ..boot.names import BYTECODE, SITE_PACKAGES
from .bytecode import compile_sources, file_hashes
from .provenance import ZIP_EPOCH

# Bumped whenever what a part holds, or how it is written, changes.
LAYER_FORMAT = 1
LAYERS_SUBDIR = "archive-layers"
DEPENDENCY_DATE = time.gmtime(ZIP_EPOCH)[:6]
# A part not used for this long is removed by the next build that writes one.
UNUSED_DAYS = 30


@dataclass(frozen=True)
class Layer:
    """A written part: the zip file, and the SHA-256 of every file it unpacks into."""

    path: Path
    hashes: dict[str, str]


def dependency_layer(
    dependencies: Path,
    overridden: frozenset[str],
    *,
    compressed: bool,
    bytecode: bool,
    cache_dir: Path | None,
    scratch: Path,
) -> Layer:
    """The dependencies' part of the archive, from the cache or written into scratch.

    ``overridden``: files (relative to site-packages) the part leaves out: those the
    project provides too (its copy wins), and those of what only the build needs.
    ``bytecode``: whether the archive carries bytecode for this interpreter. Only a
    cache entry of installed dependencies, which never changes once written, has its
    part cached.
    """
    # Only what the dependencies hold too: the key must not change with every new file
    # of the project (a static file's hashed name).
    installed = set(os.listdir(dependencies))
    overridden = frozenset(name for name in overridden if name.split("/", 1)[0] in installed)
    key = _key(dependencies, overridden, compressed, bytecode, cache_dir)
    if key is None or cache_dir is None:
        return _write(dependencies, overridden, compressed, bytecode, cache_dir, scratch)
    folder = cache_dir / LAYERS_SUBDIR / key
    cached = _read(folder)
    if cached is not None:
        return cached
    written = _write(dependencies, overridden, compressed, bytecode, cache_dir, scratch)
    _keep(written, folder)
    _prune(folder.parent)
    return _read(folder) or written


def copy_layer(layer: Layer, target: IO[bytes]) -> None:
    """Append the part's bytes to target, checking a cached part against its record."""
    recorded = _recorded_sha256(layer.path.parent)
    digest = hashlib.sha256()
    with layer.path.open("rb") as source:
        while block := source.read(1 << 20):
            digest.update(block)
            target.write(block)
    if recorded is not None and digest.hexdigest() != recorded:
        raise DamagedLayer(layer.path.parent)


class DamagedLayer(Exception):
    """A cached part whose bytes are not those recorded when it was written."""

    def __init__(self, folder: Path) -> None:
        super().__init__(str(folder))
        self.folder = folder


def forget(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def _key(
    dependencies: Path,
    overridden: frozenset[str],
    compressed: bool,
    bytecode: bool,
    cache_dir: Path | None,
) -> str | None:
    if cache_dir is None or dependencies.parent.parent != cache_dir:
        return None  # installed afresh for this build: no name says what it holds
    payload = {
        "format": LAYER_FORMAT,
        "dependencies": dependencies.parent.name,
        "overridden": sorted(overridden),
        "compressed": compressed,
        # Bytecode and zip's output depend on the exact interpreter and zlib.
        "bytecode": sys.version if bytecode else None,
        "zlib": zlib.ZLIB_RUNTIME_VERSION,
    }
    encoded = json.dumps(payload, sort_keys=True).encode()
    return hashlib.sha256(encoded).hexdigest()[:32]


def _write(
    dependencies: Path,
    overridden: frozenset[str],
    compressed: bool,
    bytecode: bool,
    cache_dir: Path | None,
    scratch: Path,
) -> Layer:
    compression = zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED
    folder = Path(tempfile.mkdtemp(prefix="layer-", dir=scratch))
    compiled = folder / "bytecode" if bytecode else None
    if compiled is not None:
        cache = None if cache_dir is None else cache_dir / "bytecode"
        compile_sources([dependencies], compiled, cache, skip=overridden)
    path = folder / "layer.zip"
    files = dict(members(dependencies, overridden))
    with zipfile.ZipFile(path, "w") as zf:
        for relative, file_path in files.items():
            data = file_path.read_bytes()
            write_to_zipapp(
                zf, f"{SITE_PACKAGES}/{relative}", data, DEPENDENCY_DATE, compression,
                stat=file_path.stat(),
            )  # fmt: skip
        for name, file_path in bytecode_members(compiled):
            write_member(zf, name, file_path.read_bytes(), DEPENDENCY_DATE, compression)
    return Layer(path, file_hashes(files, compiled))


def write_member(
    zf: zipfile.ZipFile,
    name: str,
    data: bytes,
    date_time: tuple[int, int, int, int, int, int],
    compression: int,
) -> None:
    """A member the build made (bytecode, a record): read-only for everyone, at a date."""
    info = zipfile.ZipInfo(name, date_time=date_time)
    info.compress_type = compression
    info.external_attr = 0o644 << 16
    zf.writestr(info, data)


def members(source: Path, left_out: frozenset[str] = frozenset()) -> Iterator[tuple[str, Path]]:
    """A source folder's files as (path relative to it, file), in shiv's order.

    Sorted by path, links to folders followed, no bytecode: as shiv's create_archive.
    """
    for path in sorted(rglob_follow_symlinks(source, "*"), key=str):
        if path.suffix == ".pyc" or path.is_dir():
            continue
        relative = path.relative_to(source).as_posix()
        if relative not in left_out:
            yield relative, path


def bytecode_members(compiled: Path | None) -> Iterator[tuple[str, Path]]:
    """Compiled files as (name in the archive, file), sorted."""
    if compiled is None:
        return
    for path in sorted(compiled.rglob("*.pyc")):
        yield f"{BYTECODE}/{path.relative_to(compiled).as_posix()}", path


def _keep(layer: Layer, folder: Path) -> None:
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        temporary = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    except OSError:
        return  # a cache that cannot be written only makes the next build slower
    try:
        digest = hashlib.sha256()
        with layer.path.open("rb") as source, (temporary / "layer.zip").open("wb") as target:
            while block := source.read(1 << 20):
                digest.update(block)
                target.write(block)
        record = {
            "sha256": digest.hexdigest(),
            "hashes": layer.hashes,
            "hashes_sha256": _digest_of(layer.hashes),
        }
        (temporary / "layer.json").write_text(json.dumps(record, sort_keys=True))
        os.rename(temporary, folder)
    except OSError:
        # Another build kept the same part meanwhile, or the cache cannot be written:
        # this build uses its own copy.
        shutil.rmtree(temporary, ignore_errors=True)


def _read(folder: Path) -> Layer | None:
    try:
        record = json.loads((folder / "layer.json").read_text(encoding="utf-8"))
        hashes = record["hashes"]
        if not (folder / "layer.zip").is_file() or not isinstance(hashes, dict):
            return None
        if record["hashes_sha256"] != _digest_of(hashes):
            shutil.rmtree(folder, ignore_errors=True)  # damaged: written again
            return None
        os.utime(folder)  # used: kept by the pruning below
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return Layer(folder / "layer.zip", {str(k): str(v) for k, v in hashes.items()})


def _digest_of(hashes: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(hashes, sort_keys=True).encode()).hexdigest()


def _recorded_sha256(folder: Path) -> str | None:
    try:
        return str(json.loads((folder / "layer.json").read_text(encoding="utf-8"))["sha256"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _prune(root: Path) -> None:
    cutoff = time.time() - UNUSED_DAYS * 86400
    try:
        entries = list(root.iterdir())
    except OSError:
        return
    for entry in entries:
        try:
            if entry.stat().st_mtime < cutoff:
                shutil.rmtree(entry, ignore_errors=True)
        except OSError:
            continue
