"""Compressed static files reused between builds: whitenoise's own output, checked on use."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import brotli
import pytest
from django.test import override_settings
from whitenoise.compress import Compressor

from django_zipapp.builder.static import collect_static, compress_tree
from django_zipapp.builder.static_cache import (
    MAX_AGE,
    PRUNE_EVERY,
    CachedCompressor,
    CompressionCache,
)
from tests.archives import (
    Built,
    build_in,
    copy_example,
    get,
    running_server,
    site_env,
)

CSS = ("body { color: #123456; }\n" * 200).encode()
DAY = 24 * 3600


def entries(cache_dir: Path) -> dict[str, Path]:
    """The cache's static entries by algorithm/sha256, its versions folder left out."""
    found = {}
    for path in (cache_dir / "static").rglob("*"):
        if path.is_file() and not path.name.startswith("."):
            found[f"{path.parent.parent.name}/{path.name}"] = path
    return found


def compress(cache: CompressionCache, algorithm: str, data: bytes = CSS) -> bytes:
    compressor = CachedCompressor(quiet=True, cache=cache)
    made: bytes = getattr(compressor, f"compress_{algorithm}")(data)
    return made


def whitenoise(algorithm: str, data: bytes = CSS) -> bytes:
    made: bytes = getattr(Compressor, f"compress_{algorithm}")(data)
    return made


def test_entries_are_whitenoise_output_by_content(tmp_path: Path) -> None:
    for made, reused in ((2, 0), (0, 2)):
        cache = CompressionCache(tmp_path)
        for _ in range(2):  # a file and its hashed copy: one entry
            assert compress(cache, "brotli") == whitenoise("brotli")
            assert compress(cache, "gzip") == whitenoise("gzip")
        assert (cache.made, cache.reused) == (made, reused)
    digest = hashlib.sha256(CSS).hexdigest()
    found = entries(tmp_path)
    assert sorted(found) == [f"brotli/{digest}", f"gzip/{digest}"]
    assert found[f"gzip/{digest}"].parent.name.startswith("whitenoise-")
    # No temporary file is left behind.
    assert [p for p in (tmp_path / "static").rglob(".partial-*")] == []


def truncated(entry: bytes) -> bytes:
    return entry[: len(entry) // 2]


def flipped(entry: bytes) -> bytes:
    middle = len(entry) // 2
    return entry[:middle] + bytes([entry[middle] ^ 0x01]) + entry[middle + 1 :]


def of_other_content(entry: bytes) -> bytes:
    return gzip.compress(b"other", mtime=0) if entry[:2] == b"\x1f\x8b" else brotli.compress(b"x")


def dated(entry: bytes) -> bytes:
    # The gzip header's time: it decompresses to the same bytes, yet is not whitenoise's.
    return entry[:4] + b"\x01\x02\x03\x04" + entry[8:] if entry[:2] == b"\x1f\x8b" else b""


@pytest.mark.parametrize("algorithm", ["brotli", "gzip"])
@pytest.mark.parametrize("damage", [truncated, flipped, of_other_content, dated, lambda _: b""])
def test_a_damaged_entry_is_made_again(
    tmp_path: Path, algorithm: str, damage: Callable[[bytes], bytes]
) -> None:
    compress(CompressionCache(tmp_path), algorithm)
    (entry,) = entries(tmp_path).values()
    entry.write_bytes(damage(entry.read_bytes()))
    cache = CompressionCache(tmp_path)
    assert compress(cache, algorithm) == whitenoise(algorithm)
    assert (cache.made, cache.reused) == (1, 0)
    assert entry.read_bytes() == whitenoise(algorithm)  # replaced


def test_a_cache_that_cannot_be_written_only_costs_time(tmp_path: Path) -> None:
    (tmp_path / "static").write_text("a file where the folder would be")
    cache = CompressionCache(tmp_path)
    for _ in range(2):
        assert compress(cache, "brotli") == whitenoise("brotli")
    assert (cache.made, cache.reused) == (1, 0)
    cache.prune()


def test_a_used_entry_is_kept_and_old_ones_are_pruned_once_a_day(tmp_path: Path) -> None:
    cache = CompressionCache(tmp_path)
    compress(cache, "gzip", b"used" * 100)
    compress(cache, "gzip", b"unused" * 100)
    compress(cache, "gzip", b"recent" * 100)
    used, unused, recent = (
        entries(tmp_path)[f"gzip/{sha(d * 100)}"] for d in (b"used", b"unused", b"recent")
    )
    now = time.time()
    for path in (used, unused):
        os.utime(path, (now - MAX_AGE - DAY, now - MAX_AGE - DAY))
    os.utime(recent, (now - MAX_AGE + DAY, now - MAX_AGE + DAY))
    stale = used.with_name(".partial-killed")
    stale.write_bytes(b"half")
    os.utime(stale, (now - DAY, now - DAY))
    writing = used.with_name(".partial-writing")
    writing.write_bytes(b"half")

    compress(cache, "gzip", b"used" * 100)  # touched: used again now
    cache.prune(now)
    assert sorted(p.name for p in used.parent.iterdir()) == sorted(
        [used.name, recent.name, writing.name]
    )
    # At most one look a day: an entry aged meanwhile waits for the next one.
    os.utime(recent, (now - MAX_AGE - DAY, now - MAX_AGE - DAY))
    cache.prune(now + PRUNE_EVERY / 2)
    assert recent.exists()
    cache.prune(now + PRUNE_EVERY + 60)
    assert not recent.exists()
    assert used.exists()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def sources(tmp_path: Path) -> Path:
    source = tmp_path / "static-sources"
    (source / "css").mkdir(parents=True)
    (source / "css" / "site.css").write_bytes(CSS)
    (source / "app.js").write_text("console.log('compressible');\n" * 100)
    (source / "logo.png").write_bytes(b"\x89PNG" + bytes(200))
    return source


def collect(
    sources: Path, target: Path, backend: str, cache: CompressionCache | None
) -> dict[str, bytes]:
    with override_settings(
        STATICFILES_DIRS=[str(sources)],
        STATICFILES_FINDERS=["django.contrib.staticfiles.finders.FileSystemFinder"],
        STORAGES={
            "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
            "staticfiles": {"BACKEND": backend},
        },
    ):
        collect_static(target, cache=cache)
    return {p.relative_to(target).as_posix(): p.read_bytes() for p in target.rglob("*.*")}


@pytest.mark.parametrize(
    "backend",
    [
        "whitenoise.storage.CompressedManifestStaticFilesStorage",
        "whitenoise.storage.CompressedStaticFilesStorage",
        "tests.storage.VersionedStorage",  # not compressing: compress_tree
    ],
)
def test_collectstatic_takes_from_the_cache_what_a_clean_build_makes(
    sources: Path, tmp_path: Path, backend: str
) -> None:
    clean = collect(sources, tmp_path / "clean", backend, None)
    cache = CompressionCache(tmp_path / "cache")
    assert collect(sources, tmp_path / "first", backend, cache) == clean
    assert cache.made > 0
    again = CompressionCache(tmp_path / "cache")
    assert collect(sources, tmp_path / "again", backend, again) == clean
    assert (again.made, again.reused) == (0, cache.made + cache.reused)
    assert "css/site.css.br" in clean
    assert "logo.png.gz" not in clean


def test_a_storage_with_its_own_compressor_keeps_it(sources: Path, tmp_path: Path) -> None:
    cache = CompressionCache(tmp_path / "cache")
    collected = collect(sources, tmp_path / "out", "tests.storage.OwnCompressorStorage", cache)
    assert collected["css/site.css.gz"] == gzip.compress(CSS, compresslevel=1, mtime=0)
    assert (cache.made, cache.reused) == (0, 0)
    assert not (tmp_path / "cache").exists()


def test_compress_tree_uses_the_cache(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "site.css").write_bytes(CSS)
    cache = CompressionCache(tmp_path / "cache")
    compress_tree(root, cache)
    assert (root / "site.css.br").read_bytes() == whitenoise("brotli")
    assert (root / "site.css.gz").read_bytes() == whitenoise("gzip")
    assert cache.made == 2


def archived(archive: Path, suffix: str) -> bytes:
    with zipfile.ZipFile(archive) as opened:
        (name,) = (n for n in opened.namelist() if n.endswith(f"/staticfiles/{suffix}"))
        return opened.read(name)


def linked_copy(cache: Path, destination: Path) -> None:
    """The cache without its static part: installed dependencies, no compressed files."""
    destination.mkdir()
    for path in cache.iterdir():
        if path.name != "static" and not path.name.startswith("."):
            shutil.copytree(path, destination / path.name, symlinks=True, copy_function=os.link)


# Three builds in a row, the first installing every dependency into a cache of its own:
# run once (see pyproject.toml).
@pytest.mark.e2e
@pytest.mark.heavy
def test_a_rebuild_reuses_compressed_files_and_equals_a_clean_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    project = copy_example(tmp_path / "project")
    cache = tmp_path / "build-cache"
    built = build_in(project, "--cache-dir", str(cache), "-o", str(tmp_path / "first.pyz"))
    assert built.returncode == 0, built.stdout + built.stderr
    # The first build's entries, made to look a week old.
    week_ago = time.time() - 7 * DAY
    before = entries(cache)
    for path in before.values():
        os.utime(path, (week_ago, week_ago))
    # One CSS file changed; the cached versions of an unchanged one damaged.
    css = project / "notes" / "static" / "notes" / "site.css"
    old = css.read_bytes()
    new = old + b"\n.rebuilt { color: #654321; }\n" * 3
    css.write_bytes(new)
    base = archived(tmp_path / "first.pyz", "admin/css/base.css")
    before[f"gzip/{sha(base)}"].write_bytes(truncated(before[f"gzip/{sha(base)}"].read_bytes()))
    before[f"brotli/{sha(base)}"].write_bytes(flipped(before[f"brotli/{sha(base)}"].read_bytes()))

    second = tmp_path / "second.pyz"
    built = build_in(project, "--cache-dir", str(cache), "-o", str(second))
    assert built.returncode == 0, built.stdout + built.stderr
    # All but the new CSS file's and the damaged ones.
    assert f"; {len(before) - 4} of {len(before)} compressed versions from the cache)" in (
        built.stdout
    )
    after = entries(cache)
    added = {f"brotli/{sha(new)}", f"gzip/{sha(new)}"}
    assert set(after) == set(before) | added
    # Every entry was used (touched) but the old CSS file's, which is kept for a while.
    used = {name for name, path in after.items() if path.stat().st_mtime > week_ago + DAY}
    assert used == (set(before) | added) - {f"brotli/{sha(old)}", f"gzip/{sha(old)}"}
    # The damaged entries were made again; the archive has whitenoise's bytes.
    assert gzip.decompress(after[f"gzip/{sha(base)}"].read_bytes()) == base
    assert archived(second, "admin/css/base.css.gz") == whitenoise("gzip", base)
    assert archived(second, "admin/css/base.css.br") == whitenoise("brotli", base)

    # A clean build of the same tree: the installed dependencies, no compressed files.
    clean_cache = tmp_path / "clean-cache"
    linked_copy(cache, clean_cache)
    clean = tmp_path / "clean.pyz"
    built = build_in(project, "--cache-dir", str(clean_cache), "-o", str(clean))
    assert built.returncode == 0, built.stdout + built.stderr
    assert f"; 0 of {len(before)} compressed versions from the cache)" in built.stdout
    assert set(entries(clean_cache)) == set(after) - {f"brotli/{sha(old)}", f"gzip/{sha(old)}"}
    assert (
        hashlib.sha256(second.read_bytes()).digest() == hashlib.sha256(clean.read_bytes()).digest()
    )

    # Served as a browser asks for it: each encoding is the new content.
    hashed = json.loads(archived(second, "staticfiles.json"))["paths"]["notes/site.css"]
    rebuilt = Built(second, "", tmp_path)
    with running_server(second, site_env(rebuilt), tmp_path / "serve.log", workers=1) as server:
        for encoding, decompress in (("gzip", gzip.decompress), ("br", brotli.decompress)):
            status, headers, body = get(
                f"{server.base}/static/{hashed}", {"Accept-Encoding": encoding}
            )
            assert (status, headers["Content-Encoding"]) == (200, encoding)
            assert decompress(body) == new
