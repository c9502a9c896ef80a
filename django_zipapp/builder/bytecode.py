"""Bytecode made at build time, and the SHA-256 of every file an extraction will hold.

An archive built for the interpreter that builds it carries the bytecode of every module
it holds, under ``bytecode/`` (the boot package unpacks it into ``__pycache__`` folders):
the first start compiles nothing. The .pyc files are hash-based and unchecked (PEP 552),
compiled with a fixed hash seed in a fixed order, so two builds of the same tree are byte
for byte equal, and a dependency that did not change has the same .pyc in every build.
An archive built for another Python carries none, and is compiled at its first start.

The hashes let a new build's first start share each unchanged file with an older
extraction instead of unpacking it again (see boot/store.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Collection, Iterator
from pathlib import Path

from ..boot.names import SITE_PACKAGES
from .errors import BuildError

# Run by each compiling process: (source, bytecode, name in tracebacks) triples on stdin.
_COMPILE = """\
import json, py_compile, sys
for source, cfile, dfile in json.load(sys.stdin):
    try:
        py_compile.compile(source, cfile, dfile, doraise=True,
                           invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    except (py_compile.PyCompileError, SyntaxError, ValueError, UnicodeError):
        pass  # a template or a file for another Python: no module imports it
"""


def compile_sources(
    sources: list[Path],
    output: Path,
    cache: Path | None = None,
    skip: Collection[str] = frozenset(),
) -> None:
    """Compile every .py of sources into output, laid out as BYTECODE in the archive.

    ``skip``: paths (relative to a source) of files the archive does not carry.

    ``cache``: a folder of .pyc files by the SHA-256 of their source and name, kept
    between builds: a rebuild compiles only what changed.
    """
    tag = sys.implementation.cache_tag
    jobs = []
    cached: list[tuple[Path, Path]] = []
    for relative, path in _python_files(sources):
        if relative.as_posix() in skip:
            continue
        cfile = output / relative.parent / f"{path.stem}.{tag}.pyc"
        key = None if cache is None else cache / tag / _cache_key(path, relative.as_posix())
        if key is not None and key.is_file():
            cfile.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(key, cfile)
            continue
        jobs.append((str(path), str(cfile), relative.as_posix()))
        if key is not None:
            cached.append((cfile, key))
    _compile(jobs)
    for cfile, key in cached:
        if cfile.is_file():
            _keep(cfile, key)


def _cache_key(path: Path, name: str) -> str:
    # The exact interpreter too: a patch release may compile the same source otherwise.
    digest = hashlib.sha256(f"{sys.version}\0{name}\0".encode() + path.read_bytes())
    return f"{digest.hexdigest()}.pyc"


def _keep(cfile: Path, key: Path) -> None:
    try:
        key.parent.mkdir(parents=True, exist_ok=True)
        temporary = key.with_name(f".{key.name}.{os.getpid()}")
        shutil.copyfile(cfile, temporary)
        os.replace(temporary, key)
    except OSError:
        pass  # a cache that cannot be written only makes the next build slower


def _compile(jobs: list[tuple[str, str, str]]) -> None:
    for folder in sorted({os.path.dirname(cfile) for _, cfile, _ in jobs}):
        os.makedirs(folder, exist_ok=True)
    workers = max(min(os.cpu_count() or 1, 8), 1)
    # A fixed split and a fresh interpreter each, with a fixed hash seed: marshal's output
    # depends on the order of frozensets' items (before Python 3.11, on the hash seed) and
    # on what the process compiled before. Not -I, which would ignore PYTHONHASHSEED: the
    # environment is cleaned of the other PYTHON* variables instead, and cwd is "/".
    env = {name: value for name, value in os.environ.items() if not name.startswith("PYTHON")}
    env.update(PYTHONHASHSEED="0", PYTHONDONTWRITEBYTECODE="1")
    processes = [
        subprocess.Popen(
            [sys.executable, "-s", "-c", _COMPILE],
            stdin=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd="/",
            text=True,
        )
        for _ in range(workers)
    ]
    for index, process in enumerate(processes):
        _, errors = process.communicate(json.dumps(jobs[index::workers]))
        if process.returncode != 0:
            raise BuildError(f"Python could not compile the archive's modules: {errors.strip()}")


def _python_files(sources: list[Path]) -> Iterator[tuple[Path, Path]]:
    for source in sources:
        for folder, dirs, files in os.walk(source):
            dirs.sort()
            for name in sorted(files):
                if name.endswith(".py"):
                    path = Path(folder, name)
                    yield path.relative_to(source), path


def file_hashes(files: dict[str, Path], compiled: Path | None) -> dict[str, str]:
    """The SHA-256 of each file an extraction holds, by its name there.

    ``files``: site-packages' files by their path in it; ``compiled``: their bytecode,
    laid out as BYTECODE (compile_sources), or None.
    """
    found = {f"{SITE_PACKAGES}/{relative}": path for relative, path in files.items()}
    if compiled is not None:
        for path in compiled.rglob("*.pyc"):
            folder, _, file = path.relative_to(compiled).as_posix().rpartition("/")
            pycache = f"{folder}/__pycache__" if folder else "__pycache__"
            found[f"{SITE_PACKAGES}/{pycache}/{file}"] = path
    return {name: _sha256(path) for name, path in found.items()}


def hashes_text(hashes: dict[str, str]) -> bytes:
    """The hashes in sha256sum's format, sorted by name."""
    return "".join(f"{digest}  {name}\n" for name, digest in sorted(hashes.items())).encode()


def shareable(sources: list[Path], *, left_out: Collection[str] = ()) -> bytes:
    """The top-level entries that may be shared between builds: "LAYER NAME" lines.

    Everything dependencies installed (sources[0]) is one layer, unpacked and shared as
    a whole: a compiled extension finds the libraries its wheel vendors beside it
    (``$ORIGIN/../pillow.libs``) once the loader has resolved the links. Each folder of
    the project that holds no Python module (collected static files, templates) is a
    layer of its own, and so is django_zipapp when the build copied it in (the
    requirements did not install it). The project's code is never shared: its settings
    may compute BASE_DIR from Path(__file__).resolve(), which must land in the build's own
    folder. ``left_out``: top-level entries of the dependencies the archive does not hold.
    """
    dependencies = {path.name for path in sources[0].iterdir()} if sources else set()
    dependencies -= set(left_out)
    project = {path for source in sources[1:] for path in source.iterdir()}
    data = {path.name for path in project if path.is_dir() and not any(path.rglob("*.py"))}
    copied = (
        {"django_zipapp"} if any(p.name.startswith("django_zipapp-") for p in project) else set()
    )
    data |= copied & {path.name for path in project}
    code = {path.name for path in project} - data
    lines = [f"dependencies {name}" for name in sorted(dependencies - code - data)]
    lines += [f"{name} {name}" for name in sorted(data - dependencies)]
    return "".join(f"{line}\n" for line in lines if not line.endswith(" __pycache__")).encode()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()
