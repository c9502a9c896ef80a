"""Collecting, compressing and indexing the static files that go into the archive."""

from __future__ import annotations

import functools
import glob
import hashlib
import json
import os
import re
from io import StringIO
from pathlib import Path
from typing import Any

from django.contrib.staticfiles.finders import get_finders
from django.contrib.staticfiles.management.commands.collectstatic import (
    Command as CollectstaticCommand,
)
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils.module_loading import import_string
from whitenoise.compress import Compressor
from whitenoise.storage import (
    CompressedManifestStaticFilesStorage,
    CompressedStaticFilesStorage,
)

from ..conf import staticfiles_storage_config
from .errors import BuildError
from .static_cache import CachedCompressor, CompressionCache

MANIFEST_NAME = "staticfiles.json"
# whitenoise's storages write .gz and .br siblings themselves.
COMPRESSING_STORAGES = (CompressedManifestStaticFilesStorage, CompressedStaticFilesStorage)


def collect_static(
    target: Path, *, verbosity: int = 0, cache: CompressionCache | None = None
) -> int:
    """Run collectstatic with the project's own storage class, writing into target."""
    storage = _project_storage(target)
    if cache is not None and _compresses_with_whitenoise(storage):
        # whitenoise's own compressor, its output kept in the cache between builds.
        storage.create_compressor = functools.partial(CachedCompressor, cache=cache)
    command = CollectstaticCommand(stdout=StringIO(), stderr=StringIO())
    command.storage = storage
    try:
        call_command(
            command,
            interactive=False,
            verbosity=verbosity,
            clear=False,
            ignore_patterns=escaping_links(),
        )
    except (CommandError, ValueError, OSError) as exc:
        raise BuildError(f"collectstatic failed: {exc}. {_collect_fix(str(exc))}") from None
    if not isinstance(storage, COMPRESSING_STORAGES):
        compress_tree(target, cache)
    return len(command.copied_files) + len(command.symlinked_files)


def static_sources() -> dict[str, tuple[int, int]]:
    """Each file the staticfiles finders find, by its path on disk: (mtime_ns, size).

    A build command may write into a static source folder rather than into STATIC_ROOT
    (django-sass-processor's compilescss writes the CSS beside its .scss): comparing two
    of these says whether collectstatic must run again to collect what it wrote.
    """
    found: dict[str, tuple[int, int]] = {}
    for finder in get_finders():
        for path, storage in finder.list(escaping_links()):
            try:
                full = storage.path(path)
                stat = os.stat(full)
            except (NotImplementedError, OSError):
                continue
            found[full] = (stat.st_mtime_ns, stat.st_size)
    return found


# Django's manifest storage names a file a sourceMappingURL comment points at.
SOURCE_MAP = re.compile(r"The file '[^']*\.map' could not be found")


def _collect_fix(message: str) -> str:
    if SOURCE_MAP.search(message):
        return (
            "A package's JavaScript or CSS names a source map ('.map') it does not ship, "
            "and the manifest storage rewrites that name: use a subclass of the storage "
            "that leaves sourceMappingURL comments alone, as the checks page of "
            "django-zipapp's docs shows under django_zipapp.W001, and build again."
        )
    return (
        "Fix the static file it names (a missing file referenced from CSS is the usual "
        "cause) and build again."
    )


def missing_static_dirs() -> list[str]:
    """The STATICFILES_DIRS entries that are no directory: Django warns (staticfiles.W004)
    and collectstatic skips them, so the build does too, with a note."""
    from django.conf import settings

    missing = []
    for entry in getattr(settings, "STATICFILES_DIRS", ()):
        path = entry[1] if isinstance(entry, (tuple, list)) else entry
        if not os.path.isdir(path):
            missing.append(str(path))
    return missing


def escaping_links() -> list[str]:
    """collectstatic patterns for the symlinks that lead out of their static directory.

    collectstatic follows links: one to settings.py, /etc or the project would put that
    content into the archive as a public static file. Found without following any link.
    """
    patterns: list[str] = []
    for finder in get_finders():
        for storage in getattr(finder, "storages", {}).values():
            for relative in _escaping_links_in(str(storage.location)):
                # Files match on their path; a linked directory's files on path/*.
                patterns += [glob.escape(relative), glob.escape(relative) + "/*"]
    return patterns


def _escaping_links_in(location: str) -> list[str]:
    root = os.path.realpath(location)
    found = []
    for directory, directories, files in os.walk(location):
        for name in directories + files:
            path = os.path.join(directory, name)
            target = os.path.realpath(path)
            if os.path.islink(path) and not target.startswith(root + os.sep):
                found.append(os.path.relpath(path, location).replace(os.sep, "/"))
    return found


def static_storage_class() -> Any:
    """The project's static storage class; checked before the slow steps of a build."""
    backend = staticfiles_storage_config()["BACKEND"]
    try:
        return import_string(backend)
    except ImportError as exc:
        raise BuildError(
            f"STORAGES['staticfiles'] names the backend {backend!r}, which cannot be "
            f"imported ({exc}). Fix the setting and build again."
        ) from None


def _project_storage(target: Path) -> Any:
    # The project's own storage class and options, writing into the archive's tree.
    options = {**staticfiles_storage_config().get("OPTIONS", {}), "location": str(target)}
    return static_storage_class()(**options)


def _compresses_with_whitenoise(storage: Any) -> bool:
    """Whether the storage makes whitenoise's Compressor; a project's own override is kept."""
    made_by = getattr(type(storage), "create_compressor", None)
    return made_by in (storage_class.create_compressor for storage_class in COMPRESSING_STORAGES)


def compress_tree(root: Path, cache: CompressionCache | None = None) -> None:
    """gzip and brotli siblings for every compressible file, as whitenoise's storage makes."""
    compressor = (
        Compressor(quiet=True) if cache is None else CachedCompressor(quiet=True, cache=cache)
    )
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if compressor.should_compress(path.name):
            # A list in newer whitenoise, a generator that writes nothing until it is
            # consumed in 6.6 (the floor): list() writes the files with either.
            list(compressor.compress(str(path)))


def static_index(root: Path, built_at: int) -> dict[str, Any]:
    """Per-file headers decided at build time: a content ETag, and immutability."""
    hashed = _hashed_names(root / MANIFEST_NAME)
    files: dict[str, dict[str, Any]] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        name = path.relative_to(root).as_posix()
        # The index is what the archive serves: the manifest is storage's bookkeeping, and
        # the compressed siblings are served only as encodings of their originals.
        if name == MANIFEST_NAME or _is_compressed_sibling(path):
            continue
        data = path.read_bytes()
        sha256 = hashlib.sha256(data).hexdigest()
        immutable = name in hashed or _named_after_its_content(name, data, sha256)
        files[name] = {"etag": f'"{sha256[:32]}"', "immutable": immutable}
    return {"built_at": built_at, "files": files}


# A hash of 12 hex digits between dots: "site.3f2a1b9c0d4e.css", "output.a615e901a635.css".
_NAME_HASH = re.compile(r"\.([0-9a-f]{12})\.")


def _named_after_its_content(name: str, data: bytes, sha256: str) -> bool:
    """A name that carries its content's hash, though no manifest lists it.

    django-compressor's offline files (``CACHE/css/output.<sha-256>.css``) and a build
    command's other hashed output: a changed content means a new name, so the file can
    be cached for good. The hash must match the bytes (MD5 as Django's manifest
    storage, or SHA-256 as django-compressor), not merely look like one.
    """
    found = _NAME_HASH.findall(name.rsplit("/", 1)[-1])
    if not found:
        return False
    digests = {hashlib.md5(data, usedforsecurity=False).hexdigest()[:12], sha256[:12]}
    return any(part in digests for part in found)


def collect_root_files(target: Path) -> int:
    """WHITENOISE_ROOT's files (favicon.ico, robots.txt), which whitenoise serves at the
    site's root; copied without private files, as the project's own are."""
    from django.conf import settings

    from .files import copy_tree

    configured = getattr(settings, "WHITENOISE_ROOT", None)
    if not configured or not Path(configured).is_dir():
        return 0  # whitenoise only warns about a missing one; so does the check
    return copy_tree(Path(configured), target)


def uncollected_files(static_root: Path, collected: Path) -> list[str]:
    """Files kept in the project's STATIC_ROOT that collectstatic did not produce, such as
    a front-end build's output written there and committed: the archive serves only what
    collectstatic collects. In a git checkout only committed files count; elsewhere every
    file but those named after their content and compressed siblings (old collectstatic
    output)."""
    if not static_root.is_dir():
        return []
    tracked = _git_files(static_root)
    if tracked is None:
        tracked = [
            path.relative_to(static_root).as_posix()
            for path in static_root.rglob("*")
            if path.is_file()
            and not _NAME_HASH.search(path.name)
            and path.suffix not in (".gz", ".br")
        ]
    return sorted(
        name for name in tracked if name != MANIFEST_NAME and not (collected / name).is_file()
    )


def _git_files(folder: Path) -> list[str] | None:
    import subprocess

    command = ["git", "-C", str(folder), "ls-files", "-z", "--", "."]
    try:
        result = subprocess.run(command, capture_output=True, check=False, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0:
        return None  # not a git checkout
    return [name for name in result.stdout.decode("utf-8", "surrogateescape").split("\0") if name]


def write_static_index(path: Path, index: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(index, sort_keys=True, indent=0), encoding="utf-8")


def _hashed_names(manifest: Path) -> set[str]:
    if not manifest.is_file():
        return set()
    paths: dict[str, str] = json.loads(manifest.read_text(encoding="utf-8")).get("paths", {})
    return set(paths.values())


def _is_compressed_sibling(path: Path) -> bool:
    return path.suffix in (".gz", ".br") and path.with_suffix("").is_file()
