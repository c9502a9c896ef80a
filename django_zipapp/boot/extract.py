"""Unpacking the archive's site-packages into its extraction, once, and holding it.

May create, fill and rename into place this build's extraction under the extraction root
(SHIV_ROOT/<archive>_<build id>), take this build's lock and a shared lock on its marker,
and remove this build's own leftovers; what the shared store holds it reaches through
store.py only. It never touches another build's extraction (pruning is prune.py's).
"""

from __future__ import annotations

import fcntl
import json
import os
import zipfile
from collections.abc import Callable
from pathlib import Path

from .index import Index, damaged, member_text, recorded_hashes, unpacks_everything
from .locks import build_lock, locked, store_lock
from .names import (
    COMPLETE_MARKER,
    PACKED_NAME,
    SHAREABLE_NAME,
    SITE_PACKAGES,
    STORE,
    BootError,
)
from .prune import discard, remove_own_leftovers
from .seal import is_sealed, seal_of
from .spread import spread_children
from .store import prune_store, share_entries
from .unpack import DamagedEntry, unpack
from .verify import damaged_files

# Extraction. shiv's bootstrap would extract on its own when site-packages is missing:
# under a lock, into "<name>.tmp", then moved into place. It never removes a ".tmp" left
# by a killed start, trusts any directory that exists (a half-deleted or tampered one
# included) and never prunes old builds. So the extraction is done here, before shiv's
# bootstrap runs, which then finds site-packages in place and only puts it on sys.path.
# shutil, tempfile and concurrent.futures are imported where used: only a first start
# needs them.
#
# Entry points for what else unpacks into the same cache (an interpreter shipped in the
# archive, say): extract_once() makes an extraction exist and holds it; prune_builds()
# removes old ones and everything inside them, then prune_store() the shared layers no
# remaining extraction links to; hold_extraction() keeps one alive for the life of a
# process. Anything placed inside an extraction's directory before it is renamed into
# place (see _fill) is pruned with its build; a folder beside it whose name is not
# "<archive>_<build id>" is left alone by both. share_entries() shares any top-level
# entry that django_zipapp.shareable names, by layer, once django_zipapp.sha256 records
# its files' hashes.


def extract_once(
    archive_path: Path, extraction: Path, *, report: Callable[[str], None] | None = None
) -> int:
    """Make ``extraction`` a complete copy of the archive's site-packages, once.

    A warm start compares the extraction's seal only (see seal.py), whatever its number
    of files. ``report``: check every file against the archive first (``prepare
    --check``, see verify.py), unpack it again when one is not as built, and say so.
    Returns a descriptor that holds a shared lock on the extraction for the life of the
    process (and of the processes it forks): old builds are pruned only when nobody
    holds one.
    """
    # SHIV_FORCE_EXTRACT would make shiv's bootstrap extract again, without any of this.
    force = bool(os.environ.pop("SHIV_FORCE_EXTRACT", ""))
    try:
        if report is not None:
            report(_check_every_file(archive_path, extraction))
        # Asked for every file: an extraction that left some in the archive is made
        # again (after the check, which may have made it again already).
        force = force or (unpacks_everything() and _left_packed(extraction) > 0)
        for _attempt in range(3):
            held = hold_extraction(extraction)
            if held is not None and not force and is_sealed(extraction, held):
                return held
            if held is not None:
                os.close(held)
            with locked(build_lock(extraction)):
                # Another process may have extracted it while this one waited.
                if force or not _is_sealed_now(extraction):
                    _replace_or_clean_up(archive_path, extraction)
                    # Unpacked and checked just now, and held before the build's lock is
                    # let go: nothing can have pruned or changed it since (pruning takes
                    # that lock first), so its files need no second look.
                    held = hold_extraction(extraction)
                    if held is not None:
                        return held
            force = False
    except (zipfile.BadZipFile, EOFError) as exc:  # a member that does not decompress
        raise BootError(
            f"{archive_path.name} is damaged ({exc}): it cannot be unpacked. Download or "
            "build it again."
        ) from None
    except OSError as exc:
        raise BootError(
            f"{archive_path.name} cannot unpack itself into {str(extraction.parent)!r}: "
            f"{exc.strerror or exc}. Free some space or point SHIV_ROOT at another directory."
        ) from None
    raise BootError(
        f"{archive_path.name} unpacked itself into {str(extraction)!r}, but the extraction "
        "kept disappearing. Check that nothing else removes files from that directory."
    )


def _is_sealed_now(extraction: Path) -> bool:
    try:
        marker = os.open(extraction / COMPLETE_MARKER, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        return is_sealed(extraction, marker)
    finally:
        os.close(marker)


def _left_packed(extraction: Path) -> int:
    """How many files the build left packed that the extraction left in the archive."""
    try:
        marker = json.loads((extraction / COMPLETE_MARKER).read_bytes())
        return int(marker.get("packed", 0))
    except (OSError, ValueError, TypeError, AttributeError):
        return 0  # none, or not this code's: it is checked as any other


def _check_every_file(archive_path: Path, extraction: Path) -> str:
    """Check a finished extraction file by file; unpack it again when one is not as built.

    An extraction that left the build's packed files in the archive is checked without
    them: their absence is as built. Asked to unpack everything, the start unpacks them
    after this check (see extract_once), and this says so.
    """
    with locked(build_lock(extraction)):
        if not (extraction / COMPLETE_MARKER).is_file():
            return f"Nothing to check in {str(extraction)!r} yet: unpacking it now."
        left = _left_packed(extraction)
        checked, bad = damaged_files(archive_path, extraction, left_packed=left > 0)
        note = (
            f" The {left} files that the build left packed were not unpacked there: "
            "unpacking them now."
            if unpacks_everything() and left
            else ""
        )
        if not bad:
            return f"Checked {checked} files in {str(extraction)!r}: all as built.{note}"
        _replace_or_clean_up(archive_path, extraction)
    named = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
    return (
        f"Checked {checked} files in {str(extraction)!r}: {len(bad)} not as built "
        f"({named}); unpacked it again.{note}"
    )


def _replace_or_clean_up(archive_path: Path, extraction: Path) -> None:
    try:
        replace_extraction(archive_path, extraction)
    except DamagedEntry as exc:
        # Called with the build's lock held; a damaged archive leaves nothing behind.
        if not extraction.exists():
            build_lock(extraction).unlink(missing_ok=True)
        _forget_unused_store(extraction.parent)
        raise damaged(archive_path, exc.name, exc.reason) from None


def _forget_unused_store(root: Path) -> None:
    prune_store(root)
    with locked(store_lock(root), blocking=False) as acquired:
        if acquired:
            try:
                (root / STORE).rmdir()
            except OSError:
                return  # not empty: other builds link to it
            store_lock(root).unlink(missing_ok=True)


def hold_extraction(extraction: Path) -> int | None:
    """A shared lock on a finished extraction, or None when there is none to hold."""
    try:
        descriptor = os.open(extraction / COMPLETE_MARKER, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    # Waits only while a pruner holds it; is_sealed() then finds it gone.
    fcntl.flock(descriptor, fcntl.LOCK_SH)
    return descriptor


def replace_extraction(archive_path: Path, extraction: Path) -> None:
    """Unpack into a temporary directory and rename it into place: never half visible.

    What the shared store holds already, as recorded at build time, is linked rather
    than unpacked again (see share_entries).
    """
    import shutil
    import tempfile

    remove_own_leftovers(extraction)
    # Each build's folder in a place of its own, away from files just freed nearby.
    spread_children(extraction.parent)
    temporary = Path(tempfile.mkdtemp(prefix=f".{extraction.name}.tmp-", dir=extraction.parent))
    # Shared while this extraction links to the store: pruning the store waits for it.
    with locked(store_lock(extraction.parent), shared=True):
        try:
            _fill(archive_path, temporary, extraction)
        except BaseException:
            # A full disk or a damaged member: give the space back now. (A killed process
            # cannot; the next extraction removes what it left.)
            shutil.rmtree(temporary, ignore_errors=True)
            raise
        if os.path.lexists(extraction):
            discard(extraction)
        os.rename(temporary, extraction)


def _fill(archive_path: Path, temporary: Path, extraction: Path) -> None:
    with Index.of(archive_path) as archive:
        members = archive.members
        hashes = recorded_hashes(archive)
        # "LAYER NAME" lines: the top-level entries that are shared, by layer.
        lines = member_text(archive, SHAREABLE_NAME).splitlines()
        pairs = (line.partition(" ") for line in lines)
        shareable = {name: layer for layer, _, name in pairs if name}
        has_bytecode = archive.bytecode
        os.makedirs(temporary / SITE_PACKAGES)
        # Without bytecode in the archive, compiling it here would write into the store.
        shared, hashed = (
            share_entries(archive_path, temporary, archive, hashes, shareable)
            if has_bytecode
            else (set(), 0)
        )
        rest = [(name, member) for name, member in members.items() if name not in shared]
        unpack(archive_path, temporary, rest)
    if archive.packed:  # what the site may ask for later (see on_demand.py)
        listed = "".join(f"{name}\n" for name in sorted(archive.packed))
        (temporary / PACKED_NAME).write_text(listed)
    if not has_bytecode:  # built for another Python than the build host's
        compile_bytecode(temporary / SITE_PACKAGES, extraction / SITE_PACKAGES)
    marker = {
        "archive": str(archive_path),
        # Taken last, once every file is in place: see seal.py.
        "seal": seal_of(temporary),
        "files": len(members),
        # Files left in the archive (see index.Index.packed).
        "packed": len(archive.packed),
        "shared": len(shared),
        # Files of the store read to check them: those its stamps do not vouch for.
        "hashed": hashed,
    }
    (temporary / COMPLETE_MARKER).write_text(json.dumps(marker))


def compile_bytecode(site_packages: Path, final: Path) -> None:
    # Only for an archive that carries no bytecode (built for another Python than the
    # build host's). Compiled once here, every later start imports from .pyc, even when
    # the service may not write next to the sources (or PYTHONDONTWRITEBYTECODE is set).
    # ddir: tracebacks name the final path.
    import compileall
    import warnings

    # A dependency's SyntaxWarning (an invalid escape in an old module) is no news for
    # whoever starts the site. The variable reaches the compiling processes too.
    variable = os.environ.get("PYTHONWARNINGS")
    os.environ["PYTHONWARNINGS"] = "ignore"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                compileall.compile_dir(site_packages, ddir=final, quiet=2, workers=0)
            except OSError:  # no process pool here (no /dev/shm): compile in this process
                compileall.compile_dir(site_packages, ddir=final, quiet=2, workers=1)
    finally:
        if variable is None:
            del os.environ["PYTHONWARNINGS"]
        else:
            os.environ["PYTHONWARNINGS"] = variable
