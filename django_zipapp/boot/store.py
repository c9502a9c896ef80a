"""The shared store: dependencies unpacked once, linked into every build that has them.

Each top-level entry of site-packages that a dependency installed (a package, a module, a
.dist-info) is unpacked once into the shared store, SHIV_ROOT/.shared/<key>/<entry>,
where the key is the SHA-256 of the hashes the build recorded for the entry's files. An
extraction's site-packages holds a symbolic link to it: a new build whose dependencies did
not change unpacks only what changed, and the builds kept on disk take little more room
than one. Files are read-only. A store entry is checked against the recorded hashes, file
by file, before a new build links to it; one that does not match is left to whoever uses
it, and the build unpacks its own copy. Once an entry is known to hold its content
(unpacked here, or hashed), a stamp inside it (not in what is linked) lets a later build
trust a file whose lstat() is unchanged (see stamps.py). Pruning removes an entry, stamp
included, once no extraction links to it (see prune_store). A start that unpacks what
the build left packed (DJANGO_ZIPAPP_UNPACK=all) keys its entry on those files too; a
start that leaves them packed links to such an entry when it finds none of its own (see
_candidates), so that both kinds of start share one. Set DJANGO_ZIPAPP_SHARE_FILES=0 to
unpack every build on its own.

This module may create, check and remove entries under SHIV_ROOT/.shared and create the
links in a new extraction's temporary folder; it reads the extractions' site-packages
folders only to see which entries they link to.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .index import Index, Member
from .locks import locked, store_lock
from .names import COMPLETE_MARKER, SHARE_VARIABLE, SITE_PACKAGES, STAMP, STORE
from .spread import spread_children
from .stamps import Stamp
from .unpack import unpack, usable_cores


def share_entries(
    archive_path: Path,
    temporary: Path,
    archive: Index,
    hashes: dict[str, str],
    shareable: dict[str, str],
) -> tuple[set[str], int]:
    """Link the shareable top-level entries to the store, by layer.

    ``shareable``: the layer of each shareable top-level entry. A layer (all that the
    dependencies installed, say) is unpacked, checked and shared as a whole. Returns the
    files linked, and how many of the store's files were hashed to check them.
    """
    if os.environ.get(SHARE_VARIABLE, "1") == "0" or not hashes or not shareable:
        return set(), 0
    store = temporary.parent / STORE
    store.mkdir(exist_ok=True)
    spread_children(store)  # each layer in a place of its own, as each build's folder
    entries = _by_layer(archive.members, shareable)
    left = _by_layer(archive.packed, shareable)  # none when this start unpacks everything
    candidates = {
        layer: _candidates(names, left.get(layer, []), hashes) for layer, names in entries.items()
    }
    if not all(candidates.values()):
        return set(), 0  # a file without a recorded hash: nothing to check an entry with
    found = {
        layer: next((c for c in options if (store / c[0] / COMPLETE_MARKER).exists()), None)
        for layer, options in candidates.items()
    }
    missing = [layer for layer, chosen in found.items() if chosen is None]
    for layer in missing:
        members = [(name, archive.members[name]) for name in entries[layer]]
        _add_to_store(archive_path, store, candidates[layer][0][0], members)
    chosen = {layer: found[layer] or candidates[layer][0] for layer in entries}
    keys = {layer: key for layer, (key, _) in chosen.items()}
    present = [layer for layer in entries if layer not in missing]
    files = {layer: names for layer, (_, names) in chosen.items()}
    checked, hashed = _check_entries(store, present, keys, files, hashes)
    trusted = set(missing) | {layer for layer, good in zip(present, checked, strict=True) if good}
    for layer in sorted(trusted):
        for top in sorted({name.split("/", 2)[1] for name in entries[layer]}):
            os.symlink(
                os.path.join("..", "..", STORE, keys[layer], top),
                temporary / SITE_PACKAGES / top,
            )
    return {name for layer in trusted for name in entries[layer]}, hashed


def _by_layer(names: Iterable[str], shareable: dict[str, str]) -> dict[str, list[str]]:
    """The names (as an extraction holds them) of the shareable layers' files, by layer."""
    layers: dict[str, list[str]] = {}
    for name in names:
        top = name.split("/", 2)[1]
        if top in shareable:
            layers.setdefault(shareable[top], []).append(name)
    return layers


def _candidates(
    names: list[str], left: list[str], hashes: dict[str, str]
) -> list[tuple[str, list[str]]]:
    """The store entries that may serve a layer, best first: their keys and their files.

    The entry of the files this start unpacks; where the build left some of the layer's
    files packed, also the entry that a start which unpacked everything made (see
    index.unpacks_everything): it holds those too, all as recorded, and is checked with
    them, so that such a start and the ones before and after it share one entry. Empty
    when a file has no recorded hash.
    """
    found = []
    for files in (names, names + left) if left else (names,):
        key = _entry_key(files, hashes)
        if key is None:
            return []
        found.append((key, files))
    return found


def _entry_key(names: list[str], hashes: dict[str, str]) -> str | None:
    import hashlib

    if any(name not in hashes for name in names):
        return None
    lines = "".join(f"{hashes[name]}  {name}\n" for name in sorted(names))
    return hashlib.sha256(lines.encode()).hexdigest()[:32]


def _add_to_store(
    archive_path: Path, store: Path, key: str, members: list[tuple[str, Member]]
) -> None:
    import shutil
    import tempfile

    temporary = Path(tempfile.mkdtemp(prefix=f".{key}.tmp-", dir=store))
    try:
        unpack(archive_path, temporary, members)
        (temporary / COMPLETE_MARKER).write_text("")
        # The entry's own folder: SITE_PACKAGES/<entry> becomes <key>/<entry>.
        os.rename(temporary / SITE_PACKAGES, temporary / "site")
        for entry in os.listdir(temporary / "site"):
            os.rename(temporary / "site" / entry, temporary / entry)
        os.rmdir(temporary / "site")
        os.rename(temporary, store / key)
    except OSError:
        if not (store / key / COMPLETE_MARKER).exists():
            raise
        # Another start added the same entry meanwhile: it is checked like any other.
        return
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    # Just unpacked, each member checked against its CRC-32 from the archive whose
    # recorded hashes make the key: its content is known.
    stamp = Stamp(store / key)
    stamp.begin()
    names = [name.split("/", 1)[1] for name, _ in members]
    if all(stamp.record(name) for name in names):
        stamp.save()
    stamp.end()


def _check_entries(
    store: Path,
    layers: list[str],
    keys: dict[str, str],
    entries: dict[str, list[str]],
    hashes: dict[str, str],
) -> tuple[list[bool], int]:
    """Whether each layer's entry in the store holds its files as recorded, read-only.

    ``entries``: the files (as an extraction holds them) each layer's entry must hold.
    A file that the entry's stamp vouches for is not read; every other one is hashed.
    Also returns how many files were hashed.
    """
    stamps = {layer: Stamp(store / keys[layer]) for layer in layers}
    # Names in the store drop the leading "site-packages/".
    items = [
        (layer, inside)
        for layer in layers
        for inside in stamps[layer].unvouched([name.split("/", 1)[1] for name in entries[layer]])
    ]
    for layer in {layer for layer, _ in items}:
        stamps[layer].begin()  # before any file it records is looked at

    def bad_layers(items: list[tuple[str, str]]) -> set[str]:
        import hashlib

        bad = set()
        for layer, inside in items:
            path = os.path.join(store, keys[layer], inside)
            try:
                if (
                    not stamps[layer].record(inside)
                    or os.stat(path).st_mode & 0o222
                    or _sha256(path, hashlib.sha256()) != hashes[f"{SITE_PACKAGES}/{inside}"]
                ):
                    bad.add(layer)
            except OSError:
                bad.add(layer)
        return bad

    workers = min(usable_cores(), 8, len(items))
    bad: set[str] = set()
    if workers:  # nothing to hash when the stamps vouch for every file
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(workers) as pool:
            bad = bad.union(*pool.map(bad_layers, [items[i::workers] for i in range(workers)]))
    for layer, stamp in stamps.items():
        if layer not in bad:
            stamp.save()
        stamp.end()
    return [layer not in bad for layer in layers], len(items)


def _sha256(path: str, digest: Any) -> str:
    # hashlib.file_digest is Python 3.11+; hashlib lets go of the interpreter's lock.
    with open(path, "rb") as file:
        while block := file.read(1 << 20):
            digest.update(block)
    return str(digest.hexdigest())


def prune_store(root: Path) -> None:
    """Remove the store entries that no extraction links to.

    Runs only when no extraction is under way (they hold the store's lock, shared):
    an entry being linked into a new build is never taken for unused.
    """
    import shutil

    store = root / STORE
    if not store.is_dir():
        return
    with locked(store_lock(root), blocking=False) as acquired:
        if not acquired:
            return
        used: set[str] = set()
        for entry in os.scandir(root):
            folder = os.path.join(entry.path, SITE_PACKAGES)
            if entry.name == STORE or not os.path.isdir(folder):
                continue
            for link in os.scandir(folder):
                if link.is_symlink():
                    used.add(os.readlink(link.path).split(os.sep)[-2])
        for entry in os.scandir(store):
            if entry.name not in used:
                shutil.rmtree(entry.path, ignore_errors=True)
            elif entry.is_dir(follow_symlinks=False):
                # Stamps that killed starts were writing: none is being written now.
                for path in Path(entry.path).glob(f"{STAMP}.tmp-*"):
                    path.unlink(missing_ok=True)
