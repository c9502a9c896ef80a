"""Entry and command dispatch: the first code an archive runs, before anything is extracted.

The builder copies this package to the root of every archive as ``_django_zipapp_boot``;
the archive's ``__main__`` calls main(), and shiv's bootstrap calls run() once
site-packages is on sys.path. This module may touch the process (sys.argv, sys.path,
os.environ's SHIV_ROOT and what a bundle's launcher changed, the garbage collector,
stdout), shiv's ``_bootstrap`` beside it, and reaches the archive and the extraction only
through the modules it imports. It imports the standard library and its own package
only: no dependency of the project is importable until site-packages is in place, and
the runtime is named (RUNTIME_ENTRY), not imported.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import sys
import zipfile
import zipimport
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any, NoReturn

from .environment import restore_outer_environment
from .extract import extract_once
from .index import forget_index, read_archive
from .interpreter import check_target, isolated_path
from .names import (
    BUILD_INFO_NAME,
    EXIT_BOOT_ERROR,
    NO_EXTRACTION,
    RUNTIME_ENTRY,
    SHIV_ENVIRONMENT,
    SITE_PACKAGES,
    UNPACK_VARIABLE,
    BootError,
)
from .root import extraction_root

# Handed from main() to run(): shiv's bootstrap calls run() once it has extracted
# site-packages, and offers no other way to pass values along.
_state: dict[str, Any] = {}


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
    # Before anything else: what a bundle's launcher changed never reaches the site.
    restore_outer_environment(os.environ)
    command = _command(sys.argv[1:])
    if command == "prepare" and "--all" in sys.argv[1:]:
        os.environ[UNPACK_VARIABLE] = "all"  # for this start only: see index.Index.packed
    try:
        _prepare(
            Path(sys.argv[0]),
            extract=command not in NO_EXTRACTION,
            # Here, not in the runtime: a damaged file may be one the runtime imports.
            check=command == "prepare" and "--check" in sys.argv[1:],
        )
    except BootError as exc:
        _fail(str(exc))
    sys.path[:] = isolated_path(sys.path, sys.argv[0], os.environ.get("PYTHONPATH", ""))
    if command in NO_EXTRACTION:
        # The runtime is stdlib only until a command loads the site: imported from the
        # archive itself, it answers without anything unpacked.
        sys.path.insert(0, os.path.join(sys.argv[0], SITE_PACKAGES))
        raise SystemExit(_run_runtime())
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
    return _run_runtime()


def _run_runtime() -> int:
    module, _, name = RUNTIME_ENTRY.partition(":")
    runtime_main: Callable[[dict[str, Any], Path, list[str]], int]
    runtime_main = getattr(importlib.import_module(module), name)
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
    forget_index()
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


def _prepare(archive_path: Path, *, extract: bool = True, check: bool = False) -> None:
    try:
        members = read_archive(archive_path, BUILD_INFO_NAME, SHIV_ENVIRONMENT)
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
    _state["in_use"] = extract_once(archive_path, extraction, report=print if check else None)
    _state["site_packages"] = extraction / "site-packages"


def _fail(message: str) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(EXIT_BOOT_ERROR)
