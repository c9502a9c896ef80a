"""Every call into shiv: writing the archive from a staged site-packages."""

from __future__ import annotations

import importlib.util
import json
import marshal
import os
import sys
import tempfile
import time
import types
import zipapp
import zipfile
from datetime import datetime, timezone
from importlib.resources import files
from pathlib import Path
from typing import Any

from shiv import __version__ as shiv_version
from shiv.bootstrap.environment import Environment
from shiv.builder import create_archive
from shiv.constants import BUILD_AT_TIMESTAMP_FORMAT

from ..boot import BOOT_MODULE, BUILD_INFO_NAME, ENTRY_POINT
from .bytecode import append_members, compile_sources
from .errors import BuildError
from .launcher import launcher_line, record_size, replace_first_line


def write_archive(
    sources: list[Path],
    output: Path,
    *,
    shebang: str,
    compressed: bool,
    built_at: int,
    build_info: dict[str, Any],
    cache_dir: Path | None = None,
) -> str:
    """Write the archive to output atomically and return its build id.

    ``cache_dir``: where compiled bytecode is kept between builds (None: nowhere).
    """
    env = Environment(
        built_at=datetime.fromtimestamp(built_at, timezone.utc).strftime(BUILD_AT_TIMESTAMP_FORMAT),
        shiv_version=shiv_version,
        entry_point=ENTRY_POINT,
        # Bytecode goes in apart (see bytecode.py): reproducible, and outside __pycache__.
        compile_pyc=False,
        # Timestamps come from built_at, which is SOURCE_DATE_EPOCH or the commit's time.
        reproducible=True,
    )
    partial = output.with_name(f".{output.name}.{os.getpid()}.partial")
    try:
        _create(sources, partial, shebang, compressed, env)
        assert env.build_id is not None  # create_archive sets it from the contents
        build_info["build_id"] = env.build_id
        launcher = launcher_line(shebang, BOOT_MODULE)
        if launcher is not None:
            replace_first_line(partial, launcher)
        # Appending rewrites the zip's directory, with offsets that allow for the launcher.
        _append_boot(partial, build_info, built_at, compressed, sources, cache_dir)
        record_size(partial)
        # A rename replaces the old file in one step: a server still reading the old
        # archive keeps its inode, and a failed build leaves the old archive untouched.
        os.replace(partial, output)
    finally:
        partial.unlink(missing_ok=True)
    return str(env.build_id)


def _create(
    sources: list[Path], target: Path, shebang: str, compressed: bool, env: Environment
) -> None:
    try:
        # Each source's files go in sorted; the sources in the order given.
        create_archive(
            sources,
            target=target,
            interpreter=shebang,
            main=f"{BOOT_MODULE}:main",
            env=env,
            compressed=compressed,
        )
    except SystemExit as exc:  # shiv reports some errors this way (a too long shebang)
        message = str(exc.code).strip()
        raise BuildError(f"shiv could not write the archive: {message}") from None
    except (zipapp.ZipAppError, OSError) as exc:
        raise BuildError(f"shiv could not write the archive to {str(target)!r}: {exc}") from None


def _append_boot(
    archive: Path,
    build_info: dict[str, Any],
    built_at: int,
    compressed: bool,
    sources: list[Path],
    cache_dir: Path | None,
) -> None:
    boot_source = files("django_zipapp").joinpath("boot.py").read_bytes()
    date_time = time.gmtime(built_at)[:6]
    compression = zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED
    with (
        tempfile.TemporaryDirectory(prefix="buildpyz-bytecode-") as folder,
        zipfile.ZipFile(archive, "a") as zf,
    ):
        # Bytecode for the target interpreter when it is this one; else the first start
        # compiles it.
        bytecode = Path(folder) if _runs_on_this_interpreter(build_info) else None
        if bytecode is not None:
            cache = None if cache_dir is None else cache_dir / "bytecode"
            compile_sources(sources, bytecode, cache)
            build_info["bytecode"] = sys.implementation.cache_tag
        append_members(zf, sources, bytecode, built_at=built_at, compression=compression)
        members = [
            (f"{BOOT_MODULE}.py", boot_source),
            (BUILD_INFO_NAME, json.dumps(build_info, indent=2, sort_keys=True).encode()),
        ]
        if _runs_on_this_interpreter(build_info):
            members += _startup_bytecode(zf, boot_source)
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=date_time)
            info.compress_type = compression
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)


def _runs_on_this_interpreter(build_info: dict[str, Any]) -> bool:
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    return (build_info.get("implementation"), build_info.get("python")) == (
        sys.implementation.name,
        running,
    )


def _startup_bytecode(zf: zipfile.ZipFile, boot_source: bytes) -> list[tuple[str, bytes]]:
    """Bytecode for the modules every start imports from the archive itself.

    zipimport cannot write bytecode, so without it they are compiled from source at every
    start: the boot module, shiv's bootstrap and __main__. zipimport prefers a .pyc
    beside the .py; these are unchecked hash-based ones (PEP 552): the archive never
    changes, and an interpreter of another version ignores them and compiles the source.
    """
    sources = {f"{BOOT_MODULE}.py": boot_source}
    for name in zf.namelist():
        if name == "__main__.py" or (name.startswith("_bootstrap/") and name.endswith(".py")):
            sources[name] = zf.read(name)
    compiled = []
    for name, source in sorted(sources.items()):
        code = compile(source, name, "exec", dont_inherit=True)
        if not _has_frozenset(code):
            compiled.append((name + "c", _unchecked_pyc(source, code)))
    return compiled


def _has_frozenset(code: types.CodeType) -> bool:
    # marshal writes a frozenset constant (``x in {"a", "b"}``) in the order of its
    # strings' hashes, which change from one build process to the next: such a module
    # stays source only, so that two builds of the same sources stay byte for byte equal.
    return any(
        isinstance(constant, frozenset)
        or (isinstance(constant, types.CodeType) and _has_frozenset(constant))
        for constant in code.co_consts
    )


def _unchecked_pyc(source: bytes, code: types.CodeType) -> bytes:
    flags = 0b01  # hash-based, source not checked
    return (
        importlib.util.MAGIC_NUMBER
        + flags.to_bytes(4, "little")
        + importlib.util.source_hash(source)
        + marshal.dumps(code)
    )
