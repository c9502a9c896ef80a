"""Staging an interpreter for a bundle from an install_only tarball: what stays, what goes."""

from __future__ import annotations

import io
import sys
import tarfile
from pathlib import Path

import pytest

from django_zipapp.builder.errors import BuildError
from django_zipapp.builder.interpreter import check_source, prepare_interpreter

PYTHON = "3.11"
FILES = {
    "python/bin/python3": None,  # a real ELF file: this machine's interpreter
    "python/bin/idle3": b"#!/bin/sh\n",
    "python/bin/pip3": b"#!/bin/sh\n",
    "python/include/python3.11/patchlevel.h": b'#define PY_VERSION      "3.11.9"\n',
    "python/lib/python3.11/os.py": b"",
    "python/lib/python3.11/json/__init__.py": b"",
    "python/lib/python3.11/unittest/__init__.py": b"",
    "python/lib/python3.11/__pycache__/os.cpython-311.pyc": b"",
    "python/lib/python3.11/__pycache__/os.cpython-311.opt-1.pyc": b"",
    "python/lib/python3.11/test/test_os.py": b"",
    "python/lib/python3.11/idlelib/idle.py": b"",
    "python/lib/python3.11/tkinter/__init__.py": b"",
    "python/lib/python3.11/ensurepip/__init__.py": b"",
    "python/lib/python3.11/turtle.py": b"",
    "python/lib/python3.11/site-packages/pip/__init__.py": b"",
    "python/lib/python3.11/config-3.11-x86_64-linux-gnu/libpython3.11.a": b"",
    "python/lib/python3.11/lib-dynload/_json.cpython-311-x86_64-linux-gnu.so": b"",
    "python/lib/python3.11/lib-dynload/_tkinter.cpython-311-x86_64-linux-gnu.so": b"",
    "python/lib/python3.11/lib-dynload/_testcapi.cpython-311-x86_64-linux-gnu.so": b"",
    "python/lib/libtcl8.6.so": b"",
    "python/lib/pkgconfig/python3.pc": b"",
    "python/share/man/man1/python3.1": b"",
}


def install_only(path: Path) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in FILES.items():
            content = Path(sys.executable).resolve().read_bytes() if data is None else data
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mode = 0o755
            tar.addfile(info, io.BytesIO(content))
    return path


def test_only_what_runs_is_bundled(tmp_path: Path) -> None:
    tarball = install_only(tmp_path / "cpython-3.11.9-install_only.tar.gz")
    staging = tmp_path / "staging"
    staging.mkdir()
    interpreter = prepare_interpreter(str(tarball), staging, python=PYTHON, built_at=0)
    with tarfile.open(interpreter.tarball) as packed:
        names = {member.name for member in packed.getmembers() if member.isfile()}
    assert names == {
        "python/bin/python3",
        "python/lib/python3.11/os.py",
        "python/lib/python3.11/json/__init__.py",
        "python/lib/python3.11/unittest/__init__.py",
        "python/lib/python3.11/__pycache__/os.cpython-311.pyc",
        "python/lib/python3.11/lib-dynload/_json.cpython-311-x86_64-linux-gnu.so",
    }
    assert interpreter.python == "3.11.9"
    assert interpreter.library_path is False  # its own rpath ($ORIGIN) finds its libraries
    assert interpreter.needs["machine"] in ("x86_64", "aarch64")
    assert interpreter.needs["glibc"].startswith("2.")


def test_the_packed_interpreter_is_reproducible(tmp_path: Path) -> None:
    tarball = install_only(tmp_path / "cpython.tar.gz")
    digests = []
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        digests.append(prepare_interpreter(str(tarball), tmp_path / name, python=PYTHON,
                                           built_at=1_700_000_000).sha256)  # fmt: skip
    assert digests[0] == digests[1]


def test_another_python_version_is_refused(tmp_path: Path) -> None:
    tarball = install_only(tmp_path / "cpython.tar.gz")
    (tmp_path / "staging").mkdir()
    with pytest.raises(BuildError) as caught:
        prepare_interpreter(str(tarball), tmp_path / "staging", python="3.12", built_at=0)
    assert str(caught.value) == (
        f"The archive is built for Python 3.12, but the interpreter to bundle ({str(tarball)!r}) "
        "is Python 3.11.9. Bundle a 3.12 interpreter."
    )


def test_the_running_python_must_be_the_target_version() -> None:
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    with pytest.raises(BuildError) as caught:
        check_source("", "3.9")
    assert str(caught.value) == (
        f"The archive is built for Python 3.9, but --bundle-python without a tarball bundles "
        f"the Python running the build, {running}. Give a python-build-standalone tarball of "
        "Python 3.9, or build with Python 3.9."
    )
