"""The names every part of the boot package shares, and the builder imports.

Constants only (member names in the archive, folder and file names in an extraction,
environment variables) and the one exception a start fails with. It touches nothing:
no file, no environment, no import beyond ``__future__``.
"""

from __future__ import annotations

BOOT_MODULE = "_django_zipapp_boot"
BUILD_INFO_NAME = "django_zipapp.json"
ENTRY_POINT = f"{BOOT_MODULE}:run"
# What runs once the boot package has made site-packages importable. Named, not imported:
# the runtime depends on the boot package (to prune builds, say), never the other way.
RUNTIME_ENTRY = "django_zipapp.runtime:main"
CACHE_SUBDIR = "django-zipapp"
EXIT_BOOT_ERROR = 1
# Written last into a finished extraction, before it is renamed into place: an extraction
# without it was never finished. Running processes hold a shared lock on it.
COMPLETE_MARKER = ".django-zipapp-complete"
SITE_PACKAGES = "site-packages"
# Bytecode compiled at build time for the target interpreter: "bytecode/DIR/NAME.TAG.pyc"
# in the archive (which holds no __pycache__) unpacks to
# "site-packages/DIR/__pycache__/NAME.TAG.pyc".
BYTECODE = "bytecode"
# The SHA-256 of every file an extraction holds, recorded at build time, one
# "<sha256>  <path>" line each (sha256sum's format): what lets a new build share what
# an older one unpacked instead of unpacking it again (see store.share_entries).
HASHES_NAME = "django_zipapp.sha256"
# The top-level entries of site-packages that dependencies installed, one a line: only
# those are shared. The project's own stay in each build's folder, where settings that
# compute BASE_DIR from Path(__file__).resolve() find their templates and static files.
SHAREABLE_NAME = "django_zipapp.shareable"
# The files of site-packages that stay in the archive, one name a line (as an extraction
# holds them): the build leaves packed what a running site never opens as a file (see
# builder/packed.py).
PACKED_NAME = "django_zipapp.packed"
# An extraction keeps a copy of that list (when it left files packed), and unpacks a file
# of it that the site asks for later (a language's translation catalogues, see
# django_zipapp/runtime/catalogues.py) under ON_DEMAND, by its name in the extraction:
# "<extraction>/on-demand/site-packages/...". Both go with their build.
ON_DEMAND = "on-demand"
# Set to "all" to unpack those too (`prepare --all` does it for one start): for a tool
# that asks for such a file (importlib.metadata.files() reads RECORD, say).
UNPACK_VARIABLE = "DJANGO_ZIPAPP_UNPACK"
# Set to "0" to unpack every file again instead of sharing it with an older extraction.
SHARE_VARIABLE = "DJANGO_ZIPAPP_SHARE_FILES"
# Commands that read only the build record: they never unpack anything, so they need no
# writable directory (`env -i python3 site.pyz systemd-unit` on a host being set up).
# Their modules import the standard library only, read from the archive itself.
# (A tuple: a set literal compiles to a frozenset constant, which keeps a module from
# shipping as reproducible bytecode, see builder/shiv.py.)
NO_EXTRACTION = ("", "-h", "--help", "info", "systemd-unit")
SHIV_ENVIRONMENT = "environment.json"  # shiv's build metadata, beside this package
# A bundled interpreter (buildpyz --bundle-python) unpacks beside its build's extraction,
# as "<extraction>.python", and is pruned with it.
INTERPRETER_SUFFIX = ".python"
# The launcher of such a file keeps in OUTER_PREFIX + NAME what each variable it changes
# was ("": unset, "=VALUE": VALUE); the start puts them back (see environment.py): the
# programs the site starts (systemctl, git, image tools) must see the caller's
# environment, not load the bundled libraries (its OpenSSL) in place of their own.
OUTER_PREFIX = "DJANGO_ZIPAPP_OUTER_"
# The shared store of unpacked dependencies, in the extraction root (see store.py), and
# the stamp inside each of its entries (see stamps.py).
STORE = ".shared"
STAMP = ".django-zipapp-verified"


class BootError(Exception):
    """A reason the archive cannot start, worded for the person who started it."""
