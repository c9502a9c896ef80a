"""The first code an archive runs, before anything is extracted: a stdlib-only package.

The builder copies this package to the root of every archive as ``_django_zipapp_boot``
(beside shiv's ``_bootstrap``) and makes its main() the archive's ``__main__``; shiv's
bootstrap calls its run(). Its modules may import the standard library and each other,
nothing else: no dependency of the project is importable until site-packages is unpacked.
One job a module, arrows one way (each imports only modules listed before it):

- names: the constants shared with the builder, and BootError;
- locks, index, stamps, interpreter, root: the flock()s between processes, reading the
  archive, the store's stamps, whether this Python may run it, where it unpacks;
- environment: the caller's environment, put back where a bundle's launcher changed it;
- spread: where the file system places the trees a start makes;
- unpack: writing members into a folder; store: the shared store of dependencies;
- seal, verify: what a warm start compares, and the check of every file;
- on_demand: unpacking a file left packed once the site asks for it;
- prune: removing old builds and leftovers; extract: making this build's extraction;
- entry: main() and run(), the command dispatch; the runtime is named, never imported.

The rest of django_zipapp reaches this package through django_zipapp/booted.py: in an
archive, the copy that started it, not this one loaded a second time.
"""

from __future__ import annotations

# The names code outside the package uses, importable from the package itself too.
from .entry import main, run
from .environment import restore_outer_environment
from .extract import extract_once, hold_extraction, replace_extraction
from .index import check_intact, damaged, extracted_name, unpacks_everything
from .interpreter import check_python, check_target, isolated_path
from .locks import build_lock, locked, store_lock
from .names import (
    BOOT_MODULE,
    BUILD_INFO_NAME,
    BYTECODE,
    COMPLETE_MARKER,
    ENTRY_POINT,
    HASHES_NAME,
    INTERPRETER_SUFFIX,
    ON_DEMAND,
    OUTER_PREFIX,
    PACKED_NAME,
    SHAREABLE_NAME,
    SITE_PACKAGES,
    STAMP,
    STORE,
    BootError,
)
from .on_demand import left_packed_in, map_archive, unpack_on_demand
from .prune import prune_builds
from .root import extraction_root
from .seal import is_sealed

__all__ = [
    "BOOT_MODULE",
    "BUILD_INFO_NAME",
    "BYTECODE",
    "COMPLETE_MARKER",
    "ENTRY_POINT",
    "HASHES_NAME",
    "INTERPRETER_SUFFIX",
    "ON_DEMAND",
    "OUTER_PREFIX",
    "PACKED_NAME",
    "SHAREABLE_NAME",
    "SITE_PACKAGES",
    "STAMP",
    "STORE",
    "BootError",
    "build_lock",
    "check_intact",
    "check_python",
    "check_target",
    "damaged",
    "extract_once",
    "extracted_name",
    "extraction_root",
    "hold_extraction",
    "is_sealed",
    "isolated_path",
    "left_packed_in",
    "locked",
    "main",
    "map_archive",
    "prune_builds",
    "replace_extraction",
    "restore_outer_environment",
    "run",
    "store_lock",
    "unpack_on_demand",
    "unpacks_everything",
]
