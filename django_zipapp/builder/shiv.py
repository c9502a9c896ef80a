"""Every call into shiv: writing the archive from a staged site-packages."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import marshal
import sys
import tempfile
import time
import types
import zipfile
from collections.abc import Sequence
from datetime import datetime, timezone
from functools import partial as partial_call
from importlib.resources import files
from pathlib import Path
from stat import S_IXGRP, S_IXOTH, S_IXUSR
from typing import Any

from shiv import __version__ as shiv_version
from shiv import bootstrap
from shiv.bootstrap.environment import Environment
from shiv.builder import MAIN_TEMPLATE, iter_package_files, write_file_prefix, write_to_zipapp
from shiv.constants import BUILD_AT_TIMESTAMP_FORMAT

from ..boot.names import (
    BOOT_MODULE,
    BUILD_INFO_NAME,
    ENTRY_POINT,
    HASHES_NAME,
    PACKED_NAME,
    SHAREABLE_NAME,
    SITE_PACKAGES,
)
from .build_only import NOTHING_LEFT_OUT, BuildOnly
from .bytecode import compile_sources, file_hashes, hashes_text, shareable
from .errors import BuildError
from .launcher import launcher_line, record_size
from .layers import (
    DamagedLayer,
    Layer,
    bytecode_members,
    copy_layer,
    dependency_layer,
    forget,
    members,
    write_member,
)
from .packed import left_packed, packed_text
from .replacing import replacing


def write_archive(
    sources: list[Path],
    output: Path,
    *,
    shebang: str,
    compressed: bool,
    built_at: int,
    build_info: dict[str, Any],
    cache_dir: Path | None = None,
    documents: Sequence[tuple[str, bytes]] = (),
    language: str = "en",
    build_only: BuildOnly = NOTHING_LEFT_OUT,
) -> str:
    """Write the archive to output atomically and return its build id.

    ``sources``: the installed dependencies, then the project's staged site-packages (its
    files win). ``cache_dir``: where compiled bytecode and the dependencies' part of the
    archive (see layers.py) are kept between builds (None: nowhere). ``documents``:
    members written beside the build record (the SBOM), outside the build id.
    ``language``: whose catalogues a start unpacks (see packed.py).
    ``build_only``: what the dependencies installed that the archive leaves out.
    """
    dependencies, project = sources
    bytecode = _runs_on_this_interpreter(build_info)
    if bytecode:
        build_info["bytecode"] = sys.implementation.cache_tag
    project_files = dict(members(project))
    prefix = _prefix(shebang)
    with replacing(output, "The archive") as partial:
        with tempfile.TemporaryDirectory(prefix="buildpyz-archive-") as scratch:
            make_layer = partial_call(
                dependency_layer, dependencies, frozenset(project_files) | build_only.files,
                compressed=compressed,
                bytecode=bytecode, cache_dir=cache_dir, scratch=Path(scratch),
            )  # fmt: skip
            layer = make_layer()
            try:
                _start(partial, prefix, layer)
            except DamagedLayer as exc:
                # Altered since it was kept: removed, and written again from the sources.
                forget(exc.folder)
                layer = make_layer()
                _start(partial, prefix, layer)
            compiled = Path(scratch, "bytecode") if bytecode else None
            if compiled is not None:
                cache = None if cache_dir is None else cache_dir / "bytecode"
                compile_sources([project], compiled, cache)
            hashes = {**layer.hashes, **file_hashes(project_files, compiled)}
            recorded = hashes_text(hashes)
            installed = {path.name for path in dependencies.iterdir()} - build_only.entries
            installed -= {name.split("/", 1)[0] for name in project_files}
            packed = packed_text(left_packed(hashes, dependencies=installed, language=language))
            # The id names the extraction: it changes with any file's name or content,
            # and with what stays packed.
            build_id = hashlib.sha256(recorded + packed).hexdigest()
            build_info["build_id"] = build_id
            shared = shareable(sources, left_out=build_only.entries)
            with zipfile.ZipFile(partial, "a") as zf:
                _append(zf, project_files, compiled, (recorded, packed), shared, build_info,
                        built_at, build_id, compressed, documents)  # fmt: skip
        record_size(partial)
        partial.chmod(partial.stat().st_mode | S_IXUSR | S_IXGRP | S_IXOTH)
    return build_id


def _start(partial: Path, prefix: bytes, layer: Layer) -> None:
    with partial.open("wb") as file:
        file.write(prefix)
        copy_layer(layer, file)


def _prefix(shebang: str) -> bytes:
    """The first line: the launcher (see launcher.py), else shiv's shebang line."""
    line = io.BytesIO()
    try:
        write_file_prefix(line, shebang)
    except SystemExit as exc:  # shiv reports a too long shebang this way
        raise BuildError(f"shiv could not write the archive: {str(exc.code).strip()}") from None
    launcher = launcher_line(shebang, BOOT_MODULE)
    return line.getvalue() if launcher is None else launcher.encode() + b"\n"


def _append(
    zf: zipfile.ZipFile,
    project_files: dict[str, Path],
    compiled: Path | None,
    records: tuple[bytes, bytes],
    shared: bytes,
    build_info: dict[str, Any],
    built_at: int,
    build_id: str,
    compressed: bool,
    documents: Sequence[tuple[str, bytes]],
) -> None:
    """The second part: the project, shiv's bootstrap, the records and the build record.

    ``records``: the hashes of the extraction's files, and the names left packed;
    ``shared``: the top-level entries builds may share (bytecode.shareable).
    """
    date_time = time.gmtime(built_at)[:6]
    compression = zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED
    for relative, path in project_files.items():
        data = path.read_bytes()
        write_to_zipapp(
            zf, f"{SITE_PACKAGES}/{relative}", data, date_time, compression, stat=path.stat()
        )
    for name, path in bytecode_members(compiled):
        write_member(zf, name, path.read_bytes(), date_time, compression)
    # shiv's own bootstrap and metadata, as its create_archive writes them.
    env = Environment(
        built_at=datetime.fromtimestamp(built_at, timezone.utc).strftime(BUILD_AT_TIMESTAMP_FORMAT),
        shiv_version=shiv_version,
        entry_point=ENTRY_POINT,
        build_id=build_id,
        compile_pyc=False,  # bytecode goes in apart (see bytecode.py)
        reproducible=True,
    )
    for path, name in iter_package_files(bootstrap):
        write_to_zipapp(
            zf, f"_bootstrap/{name}", path.read_bytes(), date_time, compression, stat=path.stat()
        )
    write_to_zipapp(zf, "environment.json", env.to_json().encode(), date_time, compression)
    main = MAIN_TEMPLATE.format(module=BOOT_MODULE, fn="main")
    write_to_zipapp(zf, "__main__.py", main.encode(), date_time, compression)
    boot_package = _boot_package()
    built = [
        (HASHES_NAME, records[0]),
        (PACKED_NAME, records[1]),
        (SHAREABLE_NAME, shared),
        *boot_package,
        (BUILD_INFO_NAME, json.dumps(build_info, indent=2, sort_keys=True).encode()),
        *documents,
    ]
    if _runs_on_this_interpreter(build_info):
        built += _startup_bytecode(zf, dict(boot_package))
    for name, data in built:
        write_member(zf, name, data, date_time, compression)


def _boot_package() -> list[tuple[str, bytes]]:
    """The boot package's modules, as the archive's own top-level package BOOT_MODULE.

    Stdlib only, they run before anything is unpacked (see boot/__init__.py).
    """
    package = files("django_zipapp").joinpath("boot")
    modules = sorted(entry.name for entry in package.iterdir() if entry.name.endswith(".py"))
    return [(f"{BOOT_MODULE}/{name}", package.joinpath(name).read_bytes()) for name in modules]


def _runs_on_this_interpreter(build_info: dict[str, Any]) -> bool:
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    return (build_info.get("implementation"), build_info.get("python")) == (
        sys.implementation.name,
        running,
    )


def _startup_bytecode(
    zf: zipfile.ZipFile, boot_package: dict[str, bytes]
) -> list[tuple[str, bytes]]:
    """Bytecode for the modules every start imports from the archive itself.

    zipimport cannot write bytecode, so without it they are compiled from source at every
    start: the boot package, shiv's bootstrap and __main__. zipimport prefers a .pyc
    beside the .py; these are unchecked hash-based ones (PEP 552): the archive never
    changes, and an interpreter of another version ignores them and compiles the source.
    """
    sources = dict(boot_package)
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
