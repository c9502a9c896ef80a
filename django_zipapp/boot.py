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
import os
import platform
import re
import sys
import sysconfig
import zipfile
import zipimport
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
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
SHIV_ENVIRONMENT = "environment.json"  # shiv's build metadata, beside this module

# Handed from main() to run(): shiv's bootstrap calls run() once it has extracted
# site-packages, and offers no other way to pass values along.
_state: dict[str, Any] = {}


class BootError(Exception):
    """A reason the archive cannot start, worded for the person who started it."""


def main() -> None:
    # No cyclic garbage collection while the site starts: the imports and the setup create
    # tens of thousands of long-lived objects, and the collector would walk them about
    # 170 times (a sixth of a warm start). Python's documented recipe for servers that
    # fork: disable early, gc.freeze() before forking, enable again. The runtime turns it
    # back on: at once for a management command, once the site is loaded for serve.
    gc.disable()
    try:
        _prepare(Path(sys.argv[0]))
    except BootError as exc:
        _fail(str(exc))
    sys.path[:] = isolated_path(sys.path, sys.argv[0], os.environ.get("PYTHONPATH", ""))
    import _bootstrap  # type: ignore[import-not-found]  # shiv's, beside this file

    # shiv's bootstrap opens the archive with zipfile, parsing its directory (thousands of
    # entries) a third time, only to read environment.json, which _prepare has read,
    # and the archive's name. Anything else it asks for comes from a real ZipFile.
    _bootstrap.current_zipfile = partial(_already_read, sys.argv[0], _state.pop("members"))
    _bootstrap.bootstrap()


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


def _prepare(archive_path: Path) -> None:
    try:
        members, sizes = _read_archive(archive_path, BUILD_INFO_NAME, SHIV_ENVIRONMENT)
        build, environment = (json.loads(member) for member in members)
    except (OSError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise BootError(
            f"{archive_path.name} is damaged or is not an archive built by django-zipapp "
            f"({type(exc).__name__}). Download or build it again."
        ) from None
    check_target(build, archive_path.name)
    root = extraction_root(os.environ, archive_path.name)
    # shiv's bootstrap reads SHIV_ROOT; children (gunicorn re-exec, subprocesses) inherit
    # it and so share the same extraction.
    os.environ["SHIV_ROOT"] = str(root)
    extraction = root / f"{archive_path.resolve().name}_{environment['build_id']}"
    _state["in_use"] = extract_once(archive_path, extraction, sizes)
    _state["members"] = dict(zip((BUILD_INFO_NAME, SHIV_ENVIRONMENT), members, strict=True))
    _state["build"] = build
    _state["site_packages"] = extraction / "site-packages"


def _read_archive(archive_path: Path, *names: str) -> tuple[list[bytes], dict[str, int]]:
    """The named members, and the size of every file under site-packages/."""
    # Python has already read the archive's directory (thousands of entries) to import
    # this module; reading through its importer spares parsing it again at every start.
    loader = globals().get("__loader__")
    if isinstance(loader, zipimport.zipimporter) and os.path.samefile(loader.archive, archive_path):
        directory = getattr(zipimport, "_zip_directory_cache", {}).get(loader.archive)
        if directory is not None:
            prefix = f"{SITE_PACKAGES}{os.sep}"
            # zipimport's entries: (path, compress, data size, file size, offset, ...).
            sizes = {
                name.replace(os.sep, "/"): entry[3]
                for name, entry in directory.items()
                if name.startswith(prefix) and not name.endswith(os.sep)
            }
            return [loader.get_data(name) for name in names], sizes
    with zipfile.ZipFile(archive_path) as archive:
        return [archive.read(name) for name in names], expected_sizes(archive)


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
    """Read every entry before unpacking any: a damaged one stops the start, not halfway."""
    try:
        bad = _first_bad_entry(archive_path)
    except (OSError, zipfile.BadZipFile, EOFError, ValueError) as exc:
        bad, reason = "", f"it cannot be read ({exc})"
    else:
        reason = f"its entry {bad!r} does not match its CRC-32 checksum"
    if bad is None:
        return
    size, built = archive_path.stat().st_size, _launcher_size(archive_path)
    sizes = f"{size} bytes" + (
        "" if built is None else ", as built" if built == size else f"; built with {built}"
    )
    raise BootError(
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
# shutil and tempfile are imported where used: only a first start needs them.


def extract_once(archive_path: Path, extraction: Path, sizes: dict[str, int]) -> int:
    """Make ``extraction`` a complete copy of the archive's site-packages, once.

    ``sizes``: the archive's site-packages files and their sizes (expected_sizes()).
    Returns a descriptor that holds a shared lock on the extraction for the life of the
    process (and of the processes it forks): old builds are pruned only when nobody
    holds one.
    """
    # SHIV_FORCE_EXTRACT would make shiv's bootstrap extract again, without any of this.
    force = bool(os.environ.pop("SHIV_FORCE_EXTRACT", ""))
    try:
        for attempt in range(3):
            held = hold_extraction(extraction)
            if held is not None and not force and is_intact(extraction, sizes):
                return held
            if held is not None:
                os.close(held)
            if attempt == 0:
                # Before anything is unpacked: a damaged archive leaves nothing behind.
                check_intact(archive_path)
            with locked(build_lock(extraction)):
                # Another process may have extracted it while this one waited.
                if force or not is_intact(extraction, sizes):
                    with zipfile.ZipFile(archive_path) as archive:
                        replace_extraction(archive, sizes, extraction)
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


def expected_sizes(archive: zipfile.ZipFile) -> dict[str, int]:
    prefix = f"{SITE_PACKAGES}/"
    return {
        info.filename: info.file_size
        for info in archive.infolist()
        if info.filename.startswith(prefix) and not info.is_dir()
    }


def is_intact(extraction: Path, sizes: dict[str, int]) -> bool:
    """A finished extraction in which every file of the archive has its size.

    One stat per file, about 5 ms for a typical site: a missing, truncated or padded file
    is found before anything is imported. A file edited in place to the same size is not;
    the cache directory is the service's own (UMask=0077).
    """
    base = f"{extraction}{os.sep}"
    try:
        if not os.path.isfile(base + COMPLETE_MARKER):
            return False
        stat = os.stat
        return all(stat(base + name).st_size == size for name, size in sizes.items())
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


def replace_extraction(archive: zipfile.ZipFile, sizes: dict[str, int], extraction: Path) -> None:
    """Unpack into a temporary directory and rename it into place: never half visible."""
    import shutil
    import tempfile

    _remove_own_leftovers(extraction)
    temporary = Path(tempfile.mkdtemp(prefix=f".{extraction.name}.tmp-", dir=extraction.parent))
    try:
        archive.extractall(temporary, sorted(sizes))
        compile_bytecode(temporary / SITE_PACKAGES, extraction / SITE_PACKAGES)
        marker = {"archive": archive.filename, "files": len(sizes)}
        (temporary / COMPLETE_MARKER).write_text(json.dumps(marker))
    except BaseException:
        # A full disk or a damaged member: give the space back now. (A killed process
        # cannot; the next extraction removes what it left.)
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    if os.path.lexists(extraction):
        discard(extraction)
    os.rename(temporary, extraction)


def compile_bytecode(site_packages: Path, final: Path) -> None:
    # The archive ships no bytecode. Compiled once here, every later start imports from
    # .pyc, even when the service may not write next to the sources (or
    # PYTHONDONTWRITEBYTECODE is set). ddir: tracebacks name the final path.
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
def locked(path: Path, *, blocking: bool = True) -> Iterator[bool]:
    """An exclusive lock on ``path``; with ``blocking=False`` yields False when taken."""
    while True:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
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
    remove_leftovers(root, name)
    return removed


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
