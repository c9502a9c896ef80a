"""What build commands write, made to depend on the sources only, not on the time or order.

django-compressor's offline `compress` writes gzip files whose header holds the time
of writing, and a manifest whose keys come in the order its templates were parsed: two
builds of one commit differed in those, and in the static index derived from them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from .errors import BuildError
from .files import SKIPPED_DIRS

GZIP_MAGIC = b"\x1f\x8b"
MTIME = slice(4, 8)  # RFC 1952: the header's modification time


def normalize_written(paths: Iterable[Path]) -> None:
    for path in paths:
        if path.suffix == ".gz":
            _zero_gzip_mtime(path)
        elif path.suffix == ".json":
            _sort_json_keys(path)


def _zero_gzip_mtime(path: Path) -> None:
    data = bytearray(path.read_bytes())
    if data[:2] == GZIP_MAGIC and len(data) >= 10:
        data[MTIME] = b"\0\0\0\0"  # as gzip -n and whitenoise write it
        path.write_bytes(bytes(data))


def _sort_json_keys(path: Path) -> None:
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text)
    except (UnicodeDecodeError, ValueError):
        return  # not JSON after all: left as written
    path.write_text(json.dumps(data, sort_keys=True), encoding="utf-8")


def build_twice(source: Path, manage: Path, arguments: Sequence[str], epoch: int) -> list[str]:
    """Build the project in two separate copies; each entry that differs, with its cause."""
    with tempfile.TemporaryDirectory(prefix="buildpyz-twice-") as scratch:
        archives = []
        for name in ("one", "two"):
            copy = Path(scratch, name, source.name)
            shutil.copytree(source, copy, symlinks=True, ignore=_ignored)
            archive = Path(scratch, name, "site.pyz")
            _build(copy / manage.relative_to(source), archive, arguments, epoch)
            archives.append(archive)
        return compare(*archives, folders=[str(Path(scratch, n)) for n in ("one", "two")])


def _ignored(directory: str, names: list[str]) -> set[str]:
    return {name for name in names if name in SKIPPED_DIRS and name != ".git"}


def _build(manage: Path, archive: Path, arguments: Sequence[str], epoch: int) -> None:
    command = [sys.executable, str(manage), "buildpyz", *arguments, "--no-verify"]
    environment = {**os.environ, "SOURCE_DATE_EPOCH": str(epoch)}
    result = subprocess.run(
        [*command, "-o", str(archive)],
        cwd=manage.parent,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise BuildError(f"A build for the comparison failed:\n{result.stderr.strip()}")


def compare(one: Path, two: Path, *, folders: Sequence[str] = ()) -> list[str]:
    """Each entry that differs between two archives, with its likely cause."""
    with zipfile.ZipFile(one) as first, zipfile.ZipFile(two) as second:
        a = {info.filename: info for info in first.infolist()}
        b = {info.filename: info for info in second.infolist()}
        found = [f"{name}: only in one build" for name in sorted(a.keys() ^ b.keys())]
        for name in sorted(a.keys() & b.keys()):
            left, right = first.read(name), second.read(name)
            if left != right:
                found.append(f"{name}: {_cause(name, left, right, folders)}")
            elif (a[name].date_time, a[name].external_attr) != (
                b[name].date_time,
                b[name].external_attr,
            ):
                found.append(f"{name}: its time or mode in the archive")
    return found


def _cause(name: str, left: bytes, right: bytes, folders: Sequence[str]) -> str:
    if any(folder.encode() in data for folder in folders for data in (left, right)):
        return "holds the path of the folder it was built in"
    same_header = left[:4] + left[8:10] == right[:4] + right[8:10]
    if left[:2] == GZIP_MAGIC and same_header and left[MTIME] != right[MTIME]:
        return "a gzip header with the time it was written"
    if name.endswith(".json"):
        try:
            if json.loads(left) == json.loads(right):
                return "the same JSON with keys in another order"
        except ValueError:
            pass
        return "JSON with other values (a time, a hash of something that differs)"
    if name.endswith(".pyc"):
        return "bytecode compiled differently (a set's order, or another interpreter)"
    if sorted(left) == sorted(right):
        return "the same bytes in another order"
    return "other content (a time, a random value or an order written into it)"
