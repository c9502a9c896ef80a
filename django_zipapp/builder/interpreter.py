"""The CPython interpreter a bundle carries: staged, trimmed, measured and packed.

Two sources: a relocatable "install_only" tarball of python-build-standalone (what
``uv python install`` and pbs-installer unpack), or the interpreter running the build,
copied with the shared libraries its extension modules load beyond glibc. Either way
the result is one ``python/`` tree (bin/python3, lib/pythonX.Y, lib/*.so*) packed as a
reproducible tar.gz, and what it needs from a host: the machine and the glibc version.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import BuildError

# Never run by a site, and large: left out.
LEFT_OUT = ("test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3", "site-packages")
_LEFT_OUT_FILES = re.compile(
    r"(turtle\.py|config-[^/]+|_(test|tkinter|ctypes_test|xxtestfuzz)[^/]*\.so|xxlimited[^/]*\.so"
    r"|xxsubtype[^/]*\.so|.*\.opt-[12]\.pyc)"
)
# Part of glibc itself (or the kernel's): the host provides these, the bundle never does.
_GLIBC = re.compile(
    r"(linux-vdso|linux-gate|ld-linux[^/]*|libc|libm|libmvec|libpthread|libdl|librt|libutil"
    r"|libresolv|libanl|libBrokenLocale|libnss_[a-z]+|libthread_db)\.so(\.[0-9.]+)?"
)
_GLIBC_VERSION = re.compile(rb"GLIBC_([0-9]+)\.([0-9]+)")
_ELF_MACHINES = {62: "x86_64", 183: "aarch64", 3: "i686", 40: "armv7l", 243: "riscv64"}


@dataclass(frozen=True)
class Interpreter:
    tarball: Path
    sha256: str
    python: str  # full version, "3.12.1"
    needs: dict[str, str]  # {"machine": "x86_64", "glibc": "2.36"}
    source: str
    library_path: bool  # its libraries load only with LD_LIBRARY_PATH (no $ORIGIN rpath)

    def describe(self) -> dict[str, Any]:
        return {
            "python": self.python,
            "needs": self.needs,
            "source": self.source,
            "sha256": self.sha256,
        }


def check_source(source: str, python: str) -> None:
    """Refuse before anything is built an interpreter that cannot be bundled."""
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    if not source and python != running:
        raise BuildError(
            f"The archive is built for Python {python}, but --bundle-python without a "
            f"tarball bundles the Python running the build, {running}. Give a "
            f"python-build-standalone tarball of Python {python}, or build with Python {python}."
        )
    if source and not Path(source).expanduser().is_file():
        raise BuildError(
            f"The interpreter tarball {source!r} (--bundle-python or ZIPAPP_BUNDLE_PYTHON) "
            "does not exist. Give the path of a python-build-standalone install_only tarball."
        )


def prepare_interpreter(source: str, staging: Path, *, python: str, built_at: int) -> Interpreter:
    """Stage the interpreter (``source``: a tarball's path, or "" for the running one)."""
    tree = staging / "python"
    if source:
        _unpack_standalone(Path(source).expanduser(), staging)
        library_path = False
    else:
        _copy_running(tree)
        library_path = True
    version = _version(tree, source)
    if version.rpartition(".")[0] != python:
        raise BuildError(
            f"The archive is built for Python {python}, but the interpreter to bundle "
            f"({source or sys.executable!r}) is Python {version}. Bundle a {python} interpreter."
        )
    _trim(tree)
    needs = _needs(tree)
    tarball = staging / "python.tar.gz"
    _pack(tree, tarball, built_at)
    digest = hashlib.sha256(tarball.read_bytes()).hexdigest()
    running = Path(sys.base_prefix, "bin", f"python{python}").resolve()
    label = str(Path(source).expanduser().resolve() if source else running)
    return Interpreter(tarball, digest, version, needs, label, library_path)


def _unpack_standalone(tarball: Path, staging: Path) -> None:
    if not tarball.is_file():
        raise BuildError(f"The interpreter tarball {str(tarball)!r} does not exist.")
    try:
        with tarfile.open(tarball) as archive:
            archive.extractall(staging, filter="data")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise BuildError(
            f"The interpreter tarball {str(tarball)!r} cannot be read: {exc}."
        ) from None
    if not (staging / "python" / "bin" / "python3").exists():
        raise BuildError(
            f"{str(tarball)!r} is not a python-build-standalone 'install_only' tarball: it has "
            "no python/bin/python3. Give one of the cpython-*-install_only.tar.gz files."
        )


def _copy_running(tree: Path) -> None:
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    stdlib = Path(sysconfig.get_path("stdlib"))
    dynload = Path(str(sysconfig.get_config_var("DESTSHARED")))
    executable = Path(sys.base_prefix, "bin", f"python{version}").resolve()
    if not executable.is_file():
        raise BuildError(
            f"The interpreter running the build has no {str(executable)!r} to bundle. Give a "
            "python-build-standalone tarball instead."
        )
    lib = tree / "lib"
    (tree / "bin").mkdir(parents=True)
    shutil.copy2(executable, tree / "bin" / "python3")
    ignore = shutil.ignore_patterns("lib-dynload", *LEFT_OUT)
    shutil.copytree(stdlib, lib / f"python{version}", ignore=ignore, symlinks=True)
    # Left out before the libraries are listed: _tkinter alone would bring X11 along.
    modules = shutil.ignore_patterns("_test*", "_tkinter*", "_ctypes_test*", "xx*")
    shutil.copytree(dynload, lib / f"python{version}" / "lib-dynload", ignore=modules)
    (lib / f"python{version}" / "site-packages").mkdir()
    for name, path in sorted(_shared_libraries(tree).items()):
        shutil.copy2(path, lib / name)
    _strip_debug_symbols(tree)


def _strip_debug_symbols(tree: Path) -> None:
    # A source build keeps its debug symbols: more than half the size of libpython and
    # of the extension modules. python-build-standalone's tarballs are left as they are.
    strip = shutil.which("strip")
    if strip is None:
        return
    elves = [str(path) for path in _elf_files(tree)]
    for path in elves:
        os.chmod(path, os.stat(path).st_mode | 0o200)
    subprocess.run([strip, "--strip-debug", *elves], capture_output=True, check=False)


def _shared_libraries(tree: Path) -> dict[str, Path]:
    """Every library the executable and the extension modules load that glibc is not."""
    elves = [str(path) for path in _elf_files(tree)]
    try:
        listing = subprocess.run(
            ["ldd", *elves], capture_output=True, text=True, check=False
        ).stdout
    except OSError as exc:
        raise BuildError(f"ldd, which lists the libraries to bundle, cannot run: {exc}.") from None
    found = {}
    for name, path in re.findall(r"^\s+(\S+) => (/\S+) \(", listing, re.MULTILINE):
        if not _GLIBC.fullmatch(name):
            found[name] = Path(path).resolve()
    missing = re.findall(r"^\s+(\S+) => not found", listing, re.MULTILINE)
    if missing:
        raise BuildError(f"The interpreter needs libraries this machine lacks: {missing}.")
    return found


def _version(tree: Path, source: str) -> str:
    if not source:
        return ".".join(str(part) for part in sys.version_info[:3])
    for path in sorted((tree / "lib").glob("python3.*/os.py")):
        header = tree / "include" / path.parent.name / "patchlevel.h"
        if header.exists():
            match = re.search(r'#define PY_VERSION\s+"([0-9.]+)', header.read_text())
            if match:
                return match[1]
        return path.parent.name.removeprefix("python")
    raise BuildError(f"{source!r} holds no python/lib/python3.X standard library.")


def _trim(tree: Path) -> None:
    for directory in ("include", "share", "lib/pkgconfig"):
        shutil.rmtree(tree / directory, ignore_errors=True)
    for path in sorted((tree / "bin").iterdir()):
        if not re.fullmatch(r"python3(\.[0-9]+)?", path.name):
            path.unlink()
    for path in sorted((tree / "lib").glob("*")):
        if re.match(r"(lib)?(tcl|tk|itcl|thread)[0-9]", path.name):
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    for stdlib in (tree / "lib").glob("python3.*"):
        for name in LEFT_OUT:
            shutil.rmtree(stdlib / name, ignore_errors=True)
        (stdlib / "site-packages").mkdir(exist_ok=True)
        for path in sorted(stdlib.rglob("*"), reverse=True):
            if _LEFT_OUT_FILES.fullmatch(path.name):
                shutil.rmtree(path) if path.is_dir() else path.unlink()


def _elf_files(tree: Path) -> list[Path]:
    found = []
    for path in sorted(tree.rglob("*")):
        if path.is_file() and not path.is_symlink():
            with path.open("rb") as file:
                if file.read(4) == b"\x7fELF":
                    found.append(path)
    return found


def _needs(tree: Path) -> dict[str, str]:
    """The newest glibc symbol version any bundled binary asks for, and the machine."""
    newest = (2, 0)
    for path in _elf_files(tree):
        for major, minor in _GLIBC_VERSION.findall(path.read_bytes()):
            newest = max(newest, (int(major), int(minor)))
    header = (tree / "bin" / "python3").read_bytes()[:20]
    machine = _ELF_MACHINES.get(int.from_bytes(header[18:20], "little"), "unknown")
    return {"machine": machine, "glibc": f"{newest[0]}.{newest[1]}"}


def _pack(tree: Path, tarball: Path, built_at: int) -> None:
    """A tar.gz whose bytes depend on the files only: sorted, owned by root, fixed gzip time."""

    def normalize(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mode = 0o755 if info.isdir() or info.mode & 0o111 else 0o644
        # Folders and links are made (and trimmed) now; files keep their own times,
        # which the standard library's bytecode is checked against.
        if not info.isfile():
            info.mtime = built_at
        return info

    with (
        tarball.open("wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", mtime=built_at, filename="") as compressed,
        tarfile.open(fileobj=compressed, mode="w", format=tarfile.GNU_FORMAT) as tar,
    ):
        paths = [tree, *sorted(tree.rglob("*"))]
        for path in paths:
            tar.add(path, arcname=path.relative_to(tree.parent).as_posix(), recursive=False,
                    filter=normalize)  # fmt: skip
    os.chmod(tarball, 0o644)
