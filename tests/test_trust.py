"""The pieces that make builds reproducible, targetable and checkable, one by one."""

from __future__ import annotations

import json
import marshal
import platform
import stat
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from django_zipapp.boot.index import check_intact
from django_zipapp.boot.interpreter import check_target
from django_zipapp.boot.names import BootError
from django_zipapp.builder.dependencies import cache_key, tidy_installed
from django_zipapp.builder.errors import BuildError
from django_zipapp.builder.files import Rules, copy_tree
from django_zipapp.builder.launcher import launcher_line, record_size
from django_zipapp.builder.shiv import _startup_bytecode
from django_zipapp.builder.target import Target, make_target, normalize_machine

RUNNING = f"{sys.version_info.major}.{sys.version_info.minor}"
HERE = normalize_machine(platform.machine())


def resolved(*items: tuple[str, str, str | None]) -> list[dict[str, Any]]:
    return [
        {
            "metadata": {"name": name, "version": version},
            "download_info": {"url": f"https://files.example/{name}-{version}.whl"}
            | ({"archive_info": {"hash": f"sha256={digest}"}} if digest else {"dir_info": {}}),
        }
        for name, version, digest in items
    ]


def test_cache_key_follows_the_resolution_and_the_target() -> None:
    django = ("Django", "5.2.19", "aa")
    key = cache_key(resolved(django, ("asgiref", "3.13.0", "bb")), Target())
    assert key == cache_key(resolved(("asgiref", "3.13.0", "bb"), django), Target())
    assert key != cache_key(resolved(django, ("asgiref", "3.13.1", "cc")), Target())
    assert key != cache_key(resolved(django, ("asgiref", "3.13.0", "dd")), Target())
    arm = Target(("manylinux2014_aarch64",), "3.12")
    assert key != cache_key(resolved(django, ("asgiref", "3.13.0", "bb")), arm)


def test_a_local_folder_is_never_cached() -> None:
    assert cache_key(resolved(("mysite", "1.0", None)), Target()) is None


def test_target_pip_arguments_and_record() -> None:
    assert Target().pip_args() == []
    target = make_target(["manylinux2014_aarch64", "manylinux_2_28_aarch64"], "3.12")
    assert target.pip_args() == [
        "--platform", "manylinux2014_aarch64", "--platform", "manylinux_2_28_aarch64",
        "--python-version", "3.12", "--implementation", "cp", "--only-binary=:all:",
    ]  # fmt: skip
    assert target.describe() == {
        "python": "3.12",
        "implementation": "cpython",
        "platform": "manylinux2014_aarch64 manylinux_2_28_aarch64",
        "os": ["linux"],
        "machine": ["aarch64"],
    }
    assert make_target(["macosx_11_0_arm64"], None).describe()["machine"] == ["aarch64"]
    assert make_target(["win_amd64"], None).describe()["os"] == ["win32"]


@pytest.mark.parametrize(
    ("platforms", "version", "message"),
    [
        (["aarch64"], None, "--platform 'aarch64' is not a wheel platform tag"),
        ([], "3", "--python-version must be a Python 3 version as X.Y"),
        ([], "3.12.1", "--python-version must be a Python 3 version as X.Y"),
    ],
)
def test_bad_targets_are_refused(platforms: list[str], version: str | None, message: str) -> None:
    with pytest.raises(BuildError, match=message):
        make_target(platforms, version)


def test_tidy_installed_leaves_nothing_of_the_build_machine(tmp_path: Path) -> None:
    files = {
        "bin/gunicorn": "#!/home/me/venv/bin/python\n",
        "pkg/__init__.py": "",
        "pkg/tests/test_pkg.py": "",
        "pkg/core.so": "ELF",
        "pkg-1.0.dist-info/direct_url.json": '{"url": "file:///home/me/pkg"}',
        "pkg-1.0.dist-info/RECORD": "../../bin/gunicorn,sha256=x,1\npkg/__init__.py,,\n"
        "pkg/tests/test_pkg.py,,\npkg-1.0.dist-info/direct_url.json,,\npkg/core.so,,\n",
    }
    for name, content in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(content)
    (tmp_path / "pkg/core.so").chmod(0o775)
    (tmp_path / "pkg/__init__.py").chmod(0o664)
    tidy_installed(tmp_path)
    left = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert left == ["pkg-1.0.dist-info/RECORD", "pkg/__init__.py", "pkg/core.so"]
    record = (tmp_path / "pkg-1.0.dist-info/RECORD").read_text()
    assert record == "pkg/__init__.py,,\npkg/core.so,,\n"
    assert stat.S_IMODE((tmp_path / "pkg/core.so").stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "pkg/__init__.py").stat().st_mode) == 0o644


def test_exclude_patterns_by_name_and_by_path(tmp_path: Path) -> None:
    for name in ("app/views.py", "app/NOTES.md", "app/drafts/a.html", "app/fixtures/dev_x.json",
                 "app/fixtures/prod.json", "other/fixtures/dev_y.json"):  # fmt: skip
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    skipped: list[tuple[str, str]] = []
    rules = Rules({}, ("*.md", "drafts", "app/fixtures/dev_*"), tmp_path)
    copy_tree(
        tmp_path / "app",
        tmp_path / "out",
        rules=rules,
        on_skip=lambda path, reason: skipped.append((path.name, reason)),
    )
    copied = sorted(
        p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.*")
    )
    assert copied == ["fixtures/prod.json", "views.py"]
    assert skipped == [
        ("drafts", "excluded by 'drafts'"),
        ("NOTES.md", "excluded by '*.md'"),
        ("dev_x.json", "excluded by 'app/fixtures/dev_*'"),
    ]


def make_archive(path: Path, build: dict[str, Any]) -> Path:
    with path.open("wb") as file:
        file.write(b"#!/usr/bin/env python3\n")  # as shiv writes it
        with zipfile.ZipFile(file, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("django_zipapp.json", json.dumps(build))
            archive.writestr("site-packages/mod.py", "x = 1\n" * 1000)
    return path


def replace_first_line(archive: Path, line: str) -> None:
    """Put line in place of the archive's shebang; zip readers allow for the new length."""
    data = archive.read_bytes()
    rest = data[data.index(b"\n") + 1 :]
    archive.write_bytes(line.encode() + b"\n" + rest)


def test_launcher_line_fits_the_kernel_and_records_the_size(tmp_path: Path) -> None:
    line = launcher_line("/usr/bin/env python3.11", "_django_zipapp_boot")
    assert line is not None and len(line) < 255
    assert launcher_line("/opt/python/bin/python3.11", "_django_zipapp_boot") is None
    archive = make_archive(tmp_path / "site.pyz", {})
    replace_first_line(archive, line)
    size = record_size(archive)
    assert size == archive.stat().st_size
    assert f";s={size:<10};" in archive.read_bytes().split(b"\n")[0].decode()
    with zipfile.ZipFile(archive) as opened:  # the new first line moved the zip intact
        assert opened.testzip() is None


def test_launcher_refuses_a_truncated_file_in_one_line(tmp_path: Path) -> None:
    line = launcher_line(f"/usr/bin/env python{RUNNING}", "_django_zipapp_boot")
    assert line is not None
    archive = make_archive(tmp_path / "site.pyz", {})
    replace_first_line(archive, line)
    size = record_size(archive)
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) - 100])
    # What env -S hands Python: the code between the quotes of the first line.
    code = data.split(b"\n", 1)[0].decode().split(" -c ", 1)[1][1:-1]
    result = subprocess.run(
        [sys.executable, "-c", code, str(archive), "check"], capture_output=True, text=True
    )
    assert result.returncode == 1
    assert result.stderr == (
        f"error: {archive} is damaged: it has {size - 100} bytes, not {size}. Download it again.\n"
    )


def native_build(**changes: Any) -> dict[str, Any]:
    build = {"python": RUNNING, "implementation": sys.implementation.name, "native": True}
    build |= {"platform": "linux-x86_64", "os": [sys.platform], "machine": [HERE]}
    return build | changes


def test_check_target_passes_here_and_for_pure_python_anywhere() -> None:
    check_target(native_build(), "site.pyz")
    check_target(native_build(machine=["riscv64"], native=False), "site.pyz")


def test_check_target_names_both_platforms() -> None:
    build = native_build(python="3.12", platform="manylinux2014_aarch64", machine=["s390x"])
    with pytest.raises(BootError) as caught:
        check_target(build, "site.pyz")
    assert str(caught.value) == (
        "site.pyz was built for cpython 3.12 on manylinux2014_aarch64 and cannot run on "
        f"{sys.implementation.name} {RUNNING} on {sys.platform} {HERE} ({sys.executable}): "
        "its compiled extensions are for that platform only. Run it there, or rebuild it "
        "for this one."
    )


def test_check_intact_names_the_damaged_entry(tmp_path: Path) -> None:
    archive = make_archive(tmp_path / "site.pyz", {})
    check_intact(archive)
    with zipfile.ZipFile(archive) as opened:
        entry = opened.getinfo("site-packages/mod.py")
    data = bytearray(archive.read_bytes())
    # The middle of the entry's compressed data, after its 30-byte header and its name.
    data[entry.header_offset + 30 + len(entry.filename) + entry.compress_size // 2] ^= 0xFF
    archive.write_bytes(bytes(data))
    with pytest.raises(BootError) as caught:
        check_intact(archive)
    assert str(caught.value).startswith("site.pyz is damaged: its entry 'site-packages/mod.py' ")
    assert str(caught.value).endswith(
        f"(the file has {len(data)} bytes). Download or build it again; nothing was unpacked."
    )


def test_an_unwritable_cache_is_a_clear_error(tmp_path: Path) -> None:
    from django_zipapp.builder.dependencies import stage_dependencies
    from django_zipapp.builder.pip import Resolution

    (tmp_path / "cache").write_text("a file where a directory should be")

    class Resolved(Resolution):
        """What pip resolved, given rather than asked: the cache fails before pip runs."""

        def __init__(self) -> None:
            self.extra: list[str] = []

        def result(self) -> list[dict[str, Any]]:
            return resolved(("Django", "5.2.19", "aa"))

    with pytest.raises(BuildError) as caught:
        stage_dependencies(
            tmp_path / "staging",
            ["Django"],
            cwd=tmp_path,
            target=Target(),
            cache_dir=tmp_path / "cache",
            resolution=Resolved(),
            report=lambda message: None,
            echo=None,
        )
    assert str(caught.value) == (
        f"The dependency cache {str(tmp_path / 'cache')!r} cannot be written (File exists). "
        "Point --cache-dir or ZIPAPP_CACHE_DIR at a writable directory, or build with "
        "--no-cache."
    )


def test_startup_bytecode_leaves_out_a_module_with_a_frozenset_constant(tmp_path: Path) -> None:
    # A frozenset constant is marshalled in its strings' hash order, which differs from
    # one build process to the next: the archive would no longer be reproducible.
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("__main__.py", "import _django_zipapp_boot\n")
        zf.writestr("_bootstrap/__init__.py", "def f(x):\n    return x in {'a', 'b', 'c'}\n")
        zf.writestr("_bootstrap/other.py", "VALUES = ('a', 'b')\n")
    with zipfile.ZipFile(archive) as zf:
        boot = {"_django_zipapp_boot/__init__.py": b"print('boot')\n"}
        compiled = dict(_startup_bytecode(zf, boot))
    assert set(compiled) == {
        "_bootstrap/other.pyc",
        "_django_zipapp_boot/__init__.pyc",
        "__main__.pyc",
    }
    code = marshal.loads(compiled["_bootstrap/other.pyc"][16:])
    namespace: dict[str, Any] = {}
    exec(code, namespace)
    assert namespace["VALUES"] == ("a", "b")
