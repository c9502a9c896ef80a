"""The first code an archive runs, before anything is extracted.

The builder copies this file to the root of every archive as ``_django_zipapp_boot.py``
and makes it the archive's ``__main__``. It may import the standard library and shiv's
``_bootstrap`` (which sits beside it in the archive) and nothing else: no dependency of
the project is importable until shiv's bootstrap has extracted ``site-packages``.
"""

from __future__ import annotations

import fcntl
import gc
import json
import mmap
import os
import platform
import re
import stat
import struct
import sys
import sysconfig
import zipfile
import zipimport
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from functools import cached_property, partial
from pathlib import Path
from typing import Any, NoReturn

# Names shared with the builder, which imports them from here.
BOOT_MODULE = "_django_zipapp_boot"
BUILD_INFO_NAME = "django_zipapp.json"
ENTRY_POINT = f"{BOOT_MODULE}:run"
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
# an older one unpacked instead of unpacking it again (see share_entries).
HASHES_NAME = "django_zipapp.sha256"
# The top-level entries of site-packages that dependencies installed, one a line: only
# those are shared. The project's own stay in each build's folder, where settings that
# compute BASE_DIR from Path(__file__).resolve() find their templates and static files.
SHAREABLE_NAME = "django_zipapp.shareable"
# Set to "0" to unpack every file again instead of sharing it with an older extraction.
SHARE_VARIABLE = "DJANGO_ZIPAPP_SHARE_FILES"
# Commands that read only the build record: they never unpack anything, so they need no
# writable directory (`env -i python3 site.pyz systemd-unit` on a host being set up).
# Their modules import the standard library only, read from the archive itself.
# (A tuple: a set literal compiles to a frozenset constant, which keeps this module from
# shipping as reproducible bytecode, see builder/shiv.py.)
NO_EXTRACTION = ("", "-h", "--help", "info", "systemd-unit")
SHIV_ENVIRONMENT = "environment.json"  # shiv's build metadata, beside this module
# A bundled interpreter (buildpyz --bundle-python) unpacks beside its build's extraction,
# as "<extraction>.python", and is pruned with it.
INTERPRETER_SUFFIX = ".python"

# Handed from main() to run(): shiv's bootstrap calls run() once it has extracted
# site-packages, and offers no other way to pass values along.
_state: dict[str, Any] = {}


class BootError(Exception):
    """A reason the archive cannot start, worded for the person who started it."""


def main() -> None:
    try:
        try:
            _main()
        finally:
            sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`./site.pyz info | head -1`): stop quietly, as a command
        # killed by SIGPIPE would; stdout points at /dev/null so that the interpreter's
        # own flush at exit finds nothing to complain about.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(128 + 13) from None


def _main() -> None:
    # No cyclic garbage collection while the site starts: the imports and the setup create
    # tens of thousands of long-lived objects, and the collector would walk them about
    # 170 times (a sixth of a warm start). Python's documented recipe for servers that
    # fork: disable early, gc.freeze() before forking, enable again. The runtime turns it
    # back on: at once for a management command, once the site is loaded for serve.
    gc.disable()
    command = _command(sys.argv[1:])
    try:
        _prepare(Path(sys.argv[0]), extract=command not in NO_EXTRACTION)
    except BootError as exc:
        _fail(str(exc))
    sys.path[:] = isolated_path(sys.path, sys.argv[0], os.environ.get("PYTHONPATH", ""))
    if command in NO_EXTRACTION:
        # The runtime is stdlib only until a command loads the site: imported from the
        # archive itself, it answers without anything unpacked.
        sys.path.insert(0, os.path.join(sys.argv[0], SITE_PACKAGES))
        from django_zipapp.runtime import main as runtime_main

        raise SystemExit(runtime_main(_state["build"], _state["site_packages"], sys.argv[1:]))
    import _bootstrap  # type: ignore[import-not-found]  # shiv's, beside this file

    # shiv's bootstrap opens the archive with zipfile, parsing its directory (thousands of
    # entries) a third time, only to read environment.json, which _prepare has read,
    # and the archive's name. Anything else it asks for comes from a real ZipFile.
    _bootstrap.current_zipfile = partial(_already_read, sys.argv[0], _state.pop("members"))
    _bootstrap.bootstrap()


def _command(args: list[str]) -> str:
    """The archive's command in its arguments, after any -C/--config FILE."""
    index = 0
    while index < len(args):
        if args[index] in ("-C", "--config"):
            index += 2
        elif args[index].startswith(("-C", "--config=")):
            index += 1
        else:
            return args[index]
    return ""


def run() -> int:
    """Shiv's entry point: site-packages is on sys.path from here on."""
    # Everything the site imports is in the extracted site-packages now. Left on sys.path,
    # the archive would make every scan of sys.path (entry points, plugin discovery) walk
    # all of its entries.
    archive = os.path.abspath(sys.argv[0])
    sys.path[:] = [entry for entry in sys.path if os.path.abspath(entry) != archive]
    _forget_directory(archive)
    _expose_archive_as_main(archive)
    from django_zipapp.runtime import main as runtime_main

    return runtime_main(_state["build"], _state["site_packages"], sys.argv[1:])


def _expose_archive_as_main(archive: str) -> None:
    # Libraries stat __main__.__file__ and sys.argv[0] (strawberry-graphql does, resolving
    # lazy types): "site.pyz/__main__.py" inside the zip is no file on disk, and stat()
    # fails with NotADirectoryError. The archive itself is what runs, and a real file.
    main = sys.modules.get("__main__")
    if main is not None and not os.path.isfile(getattr(main, "__file__", None) or ""):
        main.__file__ = archive
    sys.argv[0] = archive


def _forget_directory(archive: str) -> None:
    # The importer's index of the archive (thousands of entries, megabytes) would stay
    # in memory for good, in the server's master and in every worker it forks. Nothing
    # is imported from the archive any more; other zips on sys.path keep theirs.
    _state.pop("index", None)
    cache: dict[str, dict[str, Any]] = getattr(zipimport, "_zip_directory_cache", {})
    for path, files in cache.items():
        if os.path.realpath(path) == os.path.realpath(archive):
            files.clear()


@contextmanager
def _already_read(filename: str, members: dict[str, bytes]) -> Iterator[_ReadArchive]:
    archive = _ReadArchive(filename, members)
    try:
        yield archive
    finally:
        archive.close()


class _ReadArchive:
    """The members of the archive already read, and a ZipFile opened only when needed."""

    def __init__(self, filename: str, members: dict[str, bytes]) -> None:
        self.filename = filename
        self.members = members
        self.opened: zipfile.ZipFile | None = None

    def read(self, name: str) -> bytes:
        return self.members[name] if name in self.members else self._zipfile().read(name)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._zipfile(), name)

    def _zipfile(self) -> zipfile.ZipFile:
        if self.opened is None:
            self.opened = zipfile.ZipFile(self.filename)
        return self.opened

    def close(self) -> None:
        if self.opened is not None:
            self.opened.close()


def _prepare(archive_path: Path, *, extract: bool = True) -> None:
    try:
        members, sizes = _read_archive(
            archive_path, BUILD_INFO_NAME, SHIV_ENVIRONMENT, sizes=extract
        )
        build, environment = (json.loads(member) for member in members)
    except (OSError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise BootError(
            f"{archive_path.name} is damaged or is not an archive built by django-zipapp "
            f"({type(exc).__name__}). Download or build it again."
        ) from None
    check_target(build, archive_path.name)
    _state["members"] = dict(zip((BUILD_INFO_NAME, SHIV_ENVIRONMENT), members, strict=True))
    _state["build"] = build
    if not extract:
        _state["site_packages"] = archive_path / SITE_PACKAGES
        return
    root = extraction_root(os.environ, archive_path.name)
    # shiv's bootstrap reads SHIV_ROOT; children (gunicorn re-exec, subprocesses) inherit
    # it and so share the same extraction.
    os.environ["SHIV_ROOT"] = str(root)
    extraction = root / f"{archive_path.resolve().name}_{environment['build_id']}"
    _state["in_use"] = extract_once(archive_path, extraction, sizes)
    _state["site_packages"] = extraction / "site-packages"


def _read_archive(
    archive_path: Path, *names: str, sizes: bool = True
) -> tuple[list[bytes], dict[str, int]]:
    """The named members, and (``sizes``) the size of every file an extraction holds."""
    with _Index.of(archive_path) as index:
        read = [index.read(name) for name in names]
        return read, index.sizes() if sizes else {}


# A member of the archive as unpack() reads it: its name in the archive, how it is stored
# (zipfile.ZIP_STORED or ZIP_DEFLATED), its stored size, its size, the offset of its local
# header in the file, and its CRC-32.
_Member = tuple[str, int, int, int, int, int]


class _Index:
    """The archive's members, as Python's importer indexed them, else as zipfile does.

    Python has already read the archive's directory (thousands of entries) to import
    this module: reading through its importer spares parsing it again at every start.
    ``members``: the files an extraction holds, by extracted name (see _Member).
    """

    def __init__(self, archive_path: Path) -> None:
        self.path = archive_path
        found = _importer_of(archive_path)
        self.loader: Any = found[0] if found else None
        self.directory: dict[str, tuple[Any, ...]] = found[1] if found else {}
        self.opened = None if found is not None else zipfile.ZipFile(archive_path)

    @cached_property
    def members(self) -> dict[str, _Member]:
        if self.opened is not None:
            listed = (
                (info.filename, info.compress_type, info.compress_size, info.file_size,
                 info.header_offset, info.CRC)
                for info in self.opened.infolist()
            )  # fmt: skip
        else:
            # Keyed by the name in the archive, with os.sep; zipimport's entry: path,
            # compress type, stored size, size, offset, time, date, CRC-32.
            listed = (
                (name.replace(os.sep, "/"), entry[1], entry[2], entry[3], entry[4], entry[7])
                for name, entry in self.directory.items()
            )
        prefixes = (f"{SITE_PACKAGES}/", f"{BYTECODE}/")
        return {
            extracted_name(member[0]): member
            for member in listed
            if member[0].startswith(prefixes)
            and not member[0].endswith("/")
            and not left_packed(member[0])
        }

    def sizes(self) -> dict[str, int]:
        """The size of every file an extraction holds."""
        return {name: member[3] for name, member in self.members.items()}

    @property
    def bytecode(self) -> bool:
        """Whether the archive holds bytecode (see BYTECODE)."""
        return any(member[0].startswith(f"{BYTECODE}/") for member in self.members.values())

    @classmethod
    def of(cls, archive_path: Path) -> _Index:
        """The archive's index: read once per process from the importer's."""
        cached = _state.get("index")
        if cached is not None and cached.path == archive_path and cached.opened is None:
            return cached  # type: ignore[no-any-return]
        index = cls(archive_path)
        if index.opened is None:
            _state["index"] = index
        return index

    def __enter__(self) -> _Index:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.opened is not None:
            self.opened.close()

    def read(self, name: str) -> bytes:
        """A member's content; KeyError when the archive has none of that name."""
        if self.opened is not None:
            return self.opened.read(name)
        if name.replace("/", os.sep) not in self.directory:
            raise KeyError(name)
        return bytes(self.loader.get_data(name.replace("/", os.sep)))


def _importer_of(archive_path: Path) -> tuple[Any, dict[str, tuple[Any, ...]]] | None:
    """The importer that imported this module from the archive, and its index of it."""
    loader = globals().get("__loader__")
    if isinstance(loader, zipimport.zipimporter):
        with suppress(OSError):
            if os.path.samefile(loader.archive, archive_path):
                directory = getattr(zipimport, "_zip_directory_cache", {}).get(loader.archive)
                if directory:  # run() empties it once the site is unpacked
                    return loader, directory
    return None


def isolated_path(path: list[str], archive: str, pythonpath: str) -> list[str]:
    """sys.path without the interpreter's own site-packages and what their .pth files add.

    The archive runs what it carries, whatever the interpreter that starts it has
    installed: a dependency missing from the archive fails on every host alike. The
    standard library, PYTHONPATH (the operator's explicit choice) and the archive stay.
    """
    stdlib = [sysconfig.get_path(name) for name in ("stdlib", "platstdlib")]
    explicit = {os.path.abspath(entry) for entry in pythonpath.split(os.pathsep) if entry}
    explicit.add(os.path.abspath(archive))

    def keep(entry: str) -> bool:
        absolute = os.path.abspath(entry)
        if absolute in explicit:
            return True
        if {"site-packages", "dist-packages"} & set(Path(absolute).parts):
            return False
        # The standard library's own folders, and its zip (lib/python3XY.zip).
        return any(_is_within(absolute, root) for root in stdlib) or _is_stdlib_zip(absolute)

    return [entry for entry in path if keep(entry)]


def _is_within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _is_stdlib_zip(path: str) -> bool:
    name = f"python{sys.version_info.major}{sys.version_info.minor}.zip"
    return os.path.basename(path) == name and _is_within(path, sys.base_prefix)


def check_target(build: dict[str, Any], archive_name: str) -> None:
    """Refuse an interpreter or machine the archive's dependencies were not built for."""
    machines = build.get("machine")
    running = f"{sys.platform} {_machine()}"
    # Pure Python runs on any machine.
    if (
        not build.get("native")
        or not machines
        or any(f"{system} {machine}" == running for system in build["os"] for machine in machines)
    ):
        check_python(build, archive_name)
        return
    built_for = f"{build['implementation']} {build['python']} on {build['platform']}"
    raise BootError(
        f"{archive_name} was built for {built_for} and cannot run on "
        f"{sys.implementation.name} {_running_python()} on {running} ({sys.executable}): "
        "its compiled extensions are for that platform only. Run it there, or rebuild it "
        "for this one."
    )


def check_intact(archive_path: Path) -> None:
    """Read every entry: a damaged one is named (extraction checks each as it unpacks)."""
    try:
        bad = _first_bad_entry(archive_path)
    except (OSError, zipfile.BadZipFile, EOFError, ValueError) as exc:
        raise damaged(archive_path, "", f"it cannot be read ({exc})") from None
    if bad is not None:
        raise damaged(archive_path, bad)


def damaged(archive_path: Path, entry: str, reason: str = "") -> BootError:
    reason = reason or f"its entry {entry!r} does not match its CRC-32 checksum"
    size, built = archive_path.stat().st_size, _launcher_size(archive_path)
    sizes = f"{size} bytes" + (
        "" if built is None else ", as built" if built == size else f"; built with {built}"
    )
    return BootError(
        f"{archive_path.name} is damaged: {reason} (the file has {sizes}). Download or build "
        "it again; nothing was unpacked."
    )


def _first_bad_entry(archive_path: Path) -> str | None:
    with zipfile.ZipFile(archive_path) as archive:
        for info in archive.infolist():
            try:
                with archive.open(info) as entry:
                    while entry.read(1 << 20):  # zipfile checks the CRC-32 at the end
                        pass
            except (zipfile.BadZipFile, zlib.error, EOFError):
                return info.filename
    return None


def _launcher_size(archive_path: Path) -> int | None:
    with archive_path.open("rb") as file:
        first = file.readline(300)
    for part in first.split(b";"):
        if part.startswith(b"s=") and part[2:].strip().isdigit():
            return int(part[2:])
    return None


def _machine() -> str:
    machine = platform.machine().lower()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)


def _running_python() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def check_python(build: dict[str, Any], archive_name: str) -> None:
    built_for = build["python"]
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    implementation = build.get("implementation", "cpython")
    if built_for == running and implementation == sys.implementation.name:
        return
    raise BootError(
        f"{archive_name} was built for {implementation} {built_for} and cannot run on "
        f"{sys.implementation.name} {running} ({sys.executable}): its dependencies are "
        f"installed for {built_for} only. Start it with python{built_for} "
        f"(python{built_for} {archive_name} ...), or rebuild it with Python {running}."
    )


def extraction_root(environ: os._Environ[str] | dict[str, str], archive_name: str) -> Path:
    """Where the archive unpacks itself: never relative, never a guess from an unset HOME.

    SHIV_ROOT when set, else systemd's CACHE_DIRECTORY, else the user's cache directory.
    """
    explicit = environ.get("SHIV_ROOT")
    if explicit:
        return _usable(Path(explicit), "SHIV_ROOT", archive_name)
    cache_directory = environ.get("CACHE_DIRECTORY")
    if cache_directory:
        # systemd lists several directories separated by colons when CacheDirectory=
        # names several; the first one is this service's own.
        return _usable(Path(cache_directory.split(":")[0]), "CACHE_DIRECTORY", archive_name)
    user_cache = _user_cache_dir(environ)
    problem = "neither XDG_CACHE_HOME nor HOME names a usable directory"
    if user_cache is not None:
        try:
            return _writable(user_cache / CACHE_SUBDIR)
        except OSError as exc:
            problem = (
                f"the user cache directory {str(user_cache)!r} is not writable ({exc.strerror})"
            )
    raise BootError(
        f"{archive_name} needs a writable directory to unpack itself into and found none: "
        f"SHIV_ROOT and CACHE_DIRECTORY are not set, and {problem}. Set SHIV_ROOT to a "
        "writable directory, or run it under systemd with CacheDirectory= set."
    )


def _user_cache_dir(environ: os._Environ[str] | dict[str, str]) -> Path | None:
    xdg = environ.get("XDG_CACHE_HOME", "")
    if os.path.isabs(xdg):
        return Path(xdg)
    home = environ.get("HOME", "")
    # A HOME of "/" is what services without a home get; ~/.cache would land at /.cache.
    if os.path.isabs(home) and Path(home) != Path("/"):
        return Path(home) / ".cache"
    return None


def _usable(path: Path, variable: str, archive_name: str) -> Path:
    if not path.is_absolute():
        raise BootError(
            f"{variable} must be an absolute path, but it is {str(path)!r}. "
            f"Set it to the absolute path of a writable directory and start {archive_name} again."
        )
    try:
        return _writable(path)
    except OSError as exc:
        raise BootError(
            f"{archive_name} cannot unpack itself into {variable}={str(path)!r}: "
            f"{exc.strerror or exc}. Point {variable} at a directory this user can write to."
        ) from None


def _writable(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    if not os.access(path, os.W_OK | os.X_OK):
        raise PermissionError(13, "Permission denied", str(path))
    return path


def _fail(message: str) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(EXIT_BOOT_ERROR)


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


def extract_once(archive_path: Path, extraction: Path, sizes: dict[str, int]) -> int:
    """Make ``extraction`` a complete copy of the archive's site-packages, once.

    ``sizes``: the files an extraction holds and their sizes (_read_archive()).
    Returns a descriptor that holds a shared lock on the extraction for the life of the
    process (and of the processes it forks): old builds are pruned only when nobody
    holds one.
    """
    # SHIV_FORCE_EXTRACT would make shiv's bootstrap extract again, without any of this.
    force = bool(os.environ.pop("SHIV_FORCE_EXTRACT", ""))
    try:
        for _attempt in range(3):
            held = hold_extraction(extraction)
            if held is not None and not force and is_intact(extraction, sizes):
                return held
            if held is not None:
                os.close(held)
            with locked(build_lock(extraction)):
                # Another process may have extracted it while this one waited.
                if force or not is_intact(extraction, sizes):
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


def _replace_or_clean_up(archive_path: Path, extraction: Path) -> None:
    try:
        replace_extraction(archive_path, extraction)
    except _DamagedEntry as exc:
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


class _DamagedEntry(Exception):
    def __init__(self, name: str, reason: str = "") -> None:
        self.name = name
        self.reason = reason  # damaged()'s, when not a CRC-32 that does not match


def extracted_name(member: str) -> str:
    """Where a member of the archive goes in an extraction (see BYTECODE)."""
    if not member.startswith(f"{BYTECODE}/"):
        return member
    folder, _, name = member[len(BYTECODE) + 1 :].rpartition("/")
    return f"{SITE_PACKAGES}/{folder}{'/' if folder else ''}__pycache__/{name}"


def left_packed(name: str) -> bool:
    """Whether the member stays in the archive: no running site reads it.

    Translation catalogues' sources: gettext, and Django through it, read only the
    compiled ``.mo`` beside each ``.po``, and the tools that read or write a ``.po``
    (makemessages, compilemessages, catalogue editors) work on the project's tree, not
    on a read-only extraction. They are an eighth of a typical site's files and of its
    size on disk. docs/running.rst says how to take them out of the archive.
    """
    return name.endswith(".po") and "/LC_MESSAGES/" in name


def is_intact(extraction: Path, sizes: dict[str, int]) -> bool:
    """A finished extraction in which every file of the archive has its size.

    One stat per file, about 5 ms for a typical site: a missing, truncated or padded file
    is found before anything is imported. A file edited in place to the same size is not;
    the cache directory is the service's own (UMask=0077) and its files are read-only.
    """
    base = f"{extraction}{os.sep}"
    try:
        if not os.path.isfile(base + COMPLETE_MARKER):
            return False
        size_of = os.stat
        return all(size_of(base + name).st_size == size for name, size in sizes.items())
    except OSError:
        return False


def hold_extraction(extraction: Path) -> int | None:
    """A shared lock on a finished extraction, or None when there is none to hold."""
    try:
        descriptor = os.open(extraction / COMPLETE_MARKER, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    # Waits only while a pruner holds it; is_intact() then finds it gone.
    fcntl.flock(descriptor, fcntl.LOCK_SH)
    return descriptor


def replace_extraction(archive_path: Path, extraction: Path) -> None:
    """Unpack into a temporary directory and rename it into place: never half visible.

    What the shared store holds already, as recorded at build time, is linked rather
    than unpacked again (see share_entries).
    """
    import shutil
    import tempfile

    _remove_own_leftovers(extraction)
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
    with _Index.of(archive_path) as archive:
        members = archive.members
        hashes = _recorded_hashes(archive)
        # "LAYER NAME" lines: the top-level entries that are shared, by layer.
        lines = _member_text(archive, SHAREABLE_NAME).splitlines()
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
    if not has_bytecode:  # built for another Python than the build host's
        compile_bytecode(temporary / SITE_PACKAGES, extraction / SITE_PACKAGES)
    marker = {
        "archive": str(archive_path),
        "files": len(members),
        "shared": len(shared),
        # Files of the store read to check them: those its stamps do not vouch for.
        "hashed": hashed,
    }
    (temporary / COMPLETE_MARKER).write_text(json.dumps(marker))


def _recorded_hashes(archive: _Index) -> dict[str, str]:
    return _parse_hashes(_member_text(archive, HASHES_NAME))


def _member_text(archive: _Index, name: str) -> str:
    try:
        return archive.read(name).decode()
    except KeyError:  # built before it was recorded
        return ""


def _parse_hashes(text: str) -> dict[str, str]:
    lines = (line.partition("  ") for line in text.splitlines())
    return {name: digest for digest, _, name in lines}


def _make_folders(temporary: Path, names: Iterable[str]) -> None:
    folders: set[str] = set()
    for name in names:
        folder = os.path.dirname(name)
        while folder and folder not in folders:
            folders.add(folder)
            folder = os.path.dirname(folder)
    # A parent sorts before what it holds: one mkdir each, and no stat (thousands of
    # folders for a big site, most of them locale folders).
    for folder in sorted(folders):
        with suppress(FileExistsError):
            os.mkdir(os.path.join(temporary, folder))


def _workers() -> int:
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


# Fewer files than this (a new build's own, with the rest shared) are not worth starting
# threads for.
UNPACK_IN_ONE_THREAD = 64
_LOCAL_HEADER = struct.Struct("<4s22xHH")  # signature, ..., name length, extra length


def unpack(archive_path: Path, target: Path, members: list[tuple[str, _Member]]) -> None:
    """Decompress the members into target, spread over the cores, each file read-only.

    ``members``: (extracted name, member) pairs. The archive is mapped into memory once
    and every thread reads from that map, which costs no system call per member and
    parses nothing again. zlib lets go of the interpreter's lock while it inflates, and
    os.open() and os.write() while the kernel works: threads run in parallel. Every
    member is checked against its CRC-32 and its size before its file is written.
    """
    _make_folders(target, (name for name, _ in members))
    with (
        open(archive_path, "rb") as file,
        mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data,
    ):
        if len(members) < UNPACK_IN_ONE_THREAD:
            _unpack_members(data, target, members)
            return
        from concurrent.futures import ThreadPoolExecutor

        workers = min(_workers(), 8)
        # Every worker takes one member in N, by size: the work comes out even.
        ordered = sorted(members, key=lambda item: item[1][3], reverse=True)
        chunks = [ordered[index::workers] for index in range(workers)]
        with ThreadPoolExecutor(workers) as pool:
            for done in [pool.submit(_unpack_members, data, target, chunk) for chunk in chunks]:
                done.result()


def _unpack_members(data: mmap.mmap, target: Path, members: list[tuple[str, _Member]]) -> None:
    base = f"{target}{os.sep}"
    for name, (member, compress, stored, size, offset, crc) in members:
        content = _content(data, member, compress, stored, size, offset)
        if len(content) != size or zlib.crc32(content) != crc:
            raise _DamagedEntry(member)
        # Read-only: a file may be shared with later builds (see share_entries).
        descriptor = os.open(
            base + name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444
        )
        try:
            # os.write on the descriptor: a file object would add an fstat and an ioctl
            # for each of thousands of files.
            view = memoryview(content)
            while view:
                view = view[os.write(descriptor, view) :]
        finally:
            os.close(descriptor)


def _content(
    data: mmap.mmap, member: str, compress: int, stored: int, size: int, offset: int
) -> bytes:
    """A member's bytes, inflated; _DamagedEntry when the archive holds no valid ones.

    The builder stores members whole or deflated (zipfile.ZIP_STORED, ZIP_DEFLATED).
    """
    try:
        signature, name_length, extra_length = _LOCAL_HEADER.unpack_from(data, offset)
    except struct.error:  # past the end of the file
        signature = b""
    if signature != b"PK\x03\x04":
        raise _DamagedEntry(member, f"its entry {member!r} has no valid local header")
    start = offset + _LOCAL_HEADER.size + name_length + extra_length
    if compress == zipfile.ZIP_STORED:
        return data[start : start + stored]
    if compress != zipfile.ZIP_DEFLATED:
        raise _DamagedEntry(
            member, f"its entry {member!r} uses compression method {compress}, not deflate"
        )
    try:
        return zlib.decompress(data[start : start + stored], -15, size)
    except zlib.error:
        raise _DamagedEntry(member) from None


# Sharing between builds. Each top-level entry of site-packages that a dependency
# installed (a package, a module, a .dist-info) is unpacked once into the shared store,
# SHIV_ROOT/.shared/<key>/<entry>, where the key is the SHA-256 of the hashes the build
# recorded for the entry's files. An extraction's site-packages holds a symbolic link to
# it: a new build whose dependencies did not change unpacks only what changed, and the
# builds kept on disk take little more room than one. Files are read-only. A store entry
# is checked against the recorded hashes, file by file, before a new build links to it;
# one that does not match is left to whoever uses it, and the build unpacks its own copy.
# Once an entry is known to hold its content (unpacked here, or hashed), a stamp inside it
# (not in what is linked) records each file's inode, size, mtime, ctime and mode: a later
# build trusts a file whose lstat() still gives exactly that and hashes any other. Only
# the kernel sets a ctime: any write, chmod or utime() moves it, which git's index relies
# on too (see _Stamp). Pruning removes an entry, stamp included, once no extraction links
# to it (see prune_store). Set DJANGO_ZIPAPP_SHARE_FILES=0 to unpack every build on its own.

STORE = ".shared"
STAMP = ".django-zipapp-verified"
# A file changed in the same clock tick as the stat that the stamp records for it would
# keep that stat. The stamp's reference time is taken from the file system's own clock
# (a file created before any stat is taken), so such a change always carries a ctime at
# or after it: a file whose ctime is not older than the reference is hashed again rather
# than trusted, as git does for its index's racily clean entries.


def share_entries(
    archive_path: Path,
    temporary: Path,
    archive: _Index,
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
    entries: dict[str, list[str]] = {}
    for name in archive.members:
        top = name.split("/", 2)[1]
        if top in shareable:
            entries.setdefault(shareable[top], []).append(name)
    keys = {top: _entry_key(names, hashes) for top, names in entries.items()}
    if any(key is None for key in keys.values()):
        return set(), 0  # a file without a recorded hash: nothing to check an entry with
    missing = [
        top for top, key in keys.items() if not (store / str(key) / COMPLETE_MARKER).exists()
    ]
    for top in missing:
        members = [(name, archive.members[name]) for name in entries[top]]
        _add_to_store(archive_path, store, str(keys[top]), members)
    found = [top for top in keys if top not in missing]
    checked, hashed = _check_entries(store, found, keys, entries, hashes)
    trusted = set(missing) | {top for top, good in zip(found, checked, strict=True) if good}
    for layer in sorted(trusted):
        for top in sorted({name.split("/", 2)[1] for name in entries[layer]}):
            os.symlink(
                os.path.join("..", "..", STORE, str(keys[layer]), top),
                temporary / SITE_PACKAGES / top,
            )
    return {name for layer in trusted for name in entries[layer]}, hashed


def _entry_key(names: list[str], hashes: dict[str, str]) -> str | None:
    import hashlib

    if any(name not in hashes for name in names):
        return None
    lines = "".join(f"{hashes[name]}  {name}\n" for name in sorted(names))
    return hashlib.sha256(lines.encode()).hexdigest()[:32]


def _add_to_store(
    archive_path: Path, store: Path, key: str, members: list[tuple[str, _Member]]
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
    stamp = _Stamp(store / key)
    stamp.begin()
    names = [name.split("/", 1)[1] for name, _ in members]
    if all(stamp.record(name) for name in names):
        stamp.save()
    stamp.end()


def _check_entries(
    store: Path,
    layers: list[str],
    keys: dict[str, str | None],
    entries: dict[str, list[str]],
    hashes: dict[str, str],
) -> tuple[list[bool], int]:
    """Whether each layer in the store holds exactly the recorded content, read-only.

    A file that the entry's stamp vouches for is not read; every other one is hashed.
    Also returns how many files were hashed.
    """
    stamps = {layer: _Stamp(store / str(keys[layer])) for layer in layers}
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
            path = os.path.join(store, str(keys[layer]), inside)
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

    workers = min(_workers(), 8, len(items))
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


class _Stamp:
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


def store_lock(root: Path) -> Path:
    return root / f"{STORE}.lock"


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


def discard(path: Path) -> None:
    import shutil
    import tempfile

    # Renamed aside first: a process that looks at the path meanwhile finds nothing
    # rather than a half-deleted tree.
    trash = tempfile.mkdtemp(prefix=f".{path.name}.trash-", dir=path.parent)
    os.rename(path, os.path.join(trash, path.name))
    shutil.rmtree(trash, ignore_errors=True)


def remove_leftovers(root: Path, archive_name: str) -> None:
    """Remove what killed starts left behind: temporary and half-deleted extractions.

    A temporary directory goes only when its build's lock is free: an extraction under
    way is never touched.
    """
    import shutil

    pattern = re.compile(r"\.(" + re.escape(archive_name) + r"_[0-9a-f]{16,})\.(tmp|trash)-")
    for entry in os.scandir(root):
        match = pattern.match(entry.name)
        if match is None:
            continue
        if match[2] == "trash":
            shutil.rmtree(entry.path, ignore_errors=True)
            continue
        extraction = root / match[1]
        with locked(build_lock(extraction), blocking=False) as acquired:
            if acquired:
                shutil.rmtree(entry.path, ignore_errors=True)
                if not extraction.exists():
                    build_lock(extraction).unlink(missing_ok=True)


def _remove_own_leftovers(extraction: Path) -> None:
    import shutil

    # Called with the build's lock held: nobody else is extracting this build.
    for kind in ("tmp", "trash"):
        for path in extraction.parent.glob(f".{extraction.name}.{kind}-*"):
            shutil.rmtree(path, ignore_errors=True)


def build_lock(extraction: Path) -> Path:
    return extraction.with_name(f".{extraction.name}.lock")


@contextmanager
def locked(path: Path, *, blocking: bool = True, shared: bool = False) -> Iterator[bool]:
    """An exclusive (or shared) lock on ``path``; ``blocking=False``: False when taken."""
    kind = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
    while True:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(descriptor, kind | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(descriptor)
            yield False
            return
        # The pruner deletes the lock files of the builds it removes; a lock taken on a
        # deleted file guards nothing, so take it again on the current one.
        if _same_file(descriptor, path):
            break
        os.close(descriptor)
    try:
        yield True
    finally:
        os.close(descriptor)


def _same_file(descriptor: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(descriptor), os.stat(path))
    except FileNotFoundError:
        return False


# Pruning: called by the runtime once the configuration (KEEP_BUILDS) is known.


def prune_builds(extraction: Path, keep: int) -> list[Path]:
    """Remove the extractions of other builds of this archive beyond the newest ``keep``.

    ``keep`` counts ``extraction`` itself. A build that a running process holds (see
    hold_extraction) or that is being extracted is skipped.
    """
    root = extraction.parent
    if not root.is_dir():
        return []
    name = extraction.name.rpartition("_")[0]
    others = sorted(
        (path for path in _builds_of(root, name) if path != extraction),
        key=_finished_at,
        reverse=True,
    )
    removed = [path for path in others[max(keep - 1, 0) :] if _remove_unused(path)]
    for path in removed:
        interpreter = path.with_name(path.name + INTERPRETER_SUFFIX)
        if interpreter.is_dir():
            discard(interpreter)
    remove_leftovers(root, name)
    remove_interpreter_leftovers(root, name)
    prune_store(root)
    return removed


def remove_interpreter_leftovers(root: Path, archive_name: str, age: float = 3600) -> None:
    """What a killed launcher left while unpacking an interpreter, once surely abandoned."""
    import shutil
    import time

    pattern = re.compile(
        r"\."
        + re.escape(archive_name)
        + r"_[0-9a-f]{16,}"
        + re.escape(INTERPRETER_SUFFIX)
        + r"\.tmp-"
    )
    for entry in os.scandir(root):
        if pattern.match(entry.name) and entry.stat().st_mtime < time.time() - age:
            shutil.rmtree(entry.path, ignore_errors=True)


def _finished_at(extraction: Path) -> float:
    # A folder's own mtime changes with its top-level entries: the marker is the last.
    try:
        return extraction.stat().st_mtime
    except FileNotFoundError:  # removed meanwhile by another start
        return 0.0


def _builds_of(root: Path, name: str) -> Iterator[Path]:
    # "<name>_<build id>" (shiv's own naming, which its bootstrap looks up) holding an
    # extraction: nothing else in the directory is ever removed.
    pattern = re.compile(re.escape(name) + r"_[0-9a-f]{16,}")
    for entry in os.scandir(root):
        if pattern.fullmatch(entry.name) and entry.is_dir(follow_symlinks=False):
            path = Path(entry.path)
            if (path / COMPLETE_MARKER).exists() or (path / SITE_PACKAGES).is_dir():
                yield path


def _remove_unused(extraction: Path) -> bool:
    lock = build_lock(extraction)
    with locked(lock, blocking=False) as acquired:
        if not acquired:
            return False  # being extracted right now
        try:
            marker = os.open(extraction / COMPLETE_MARKER, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            marker = None  # never finished, or extracted by plain shiv: nobody trusts it
        try:
            if marker is not None:
                fcntl.flock(marker, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # a running process uses it
        else:
            discard(extraction)
            lock.unlink(missing_ok=True)
        finally:
            if marker is not None:
                os.close(marker)
    return True
