"""The boot package's choices, made before anything is extracted."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from django_zipapp.boot.interpreter import check_python, isolated_path
from django_zipapp.boot.names import BootError
from django_zipapp.boot.root import extraction_root


def test_shiv_root_wins(tmp_path: Path) -> None:
    environ = {"SHIV_ROOT": str(tmp_path / "a"), "CACHE_DIRECTORY": str(tmp_path / "b")}
    assert extraction_root(environ, "site.pyz") == tmp_path / "a"
    assert (tmp_path / "a").is_dir()


def test_systemd_cache_directory_first_entry(tmp_path: Path) -> None:
    environ = {"CACHE_DIRECTORY": f"{tmp_path / 'one'}:{tmp_path / 'two'}", "HOME": "/"}
    assert extraction_root(environ, "site.pyz") == tmp_path / "one"


def test_xdg_cache_home(tmp_path: Path) -> None:
    environ = {"XDG_CACHE_HOME": str(tmp_path / "xdg"), "HOME": str(tmp_path / "home")}
    assert extraction_root(environ, "site.pyz") == tmp_path / "xdg" / "django-zipapp"


def test_home_cache(tmp_path: Path) -> None:
    environ = {"HOME": str(tmp_path), "XDG_CACHE_HOME": "relative/ignored"}
    assert extraction_root(environ, "site.pyz") == tmp_path / ".cache" / "django-zipapp"


@pytest.mark.parametrize("home", [None, "", "/", "relative"])
def test_no_usable_home_is_a_clear_error(home: str | None) -> None:
    environ = {} if home is None else {"HOME": home}
    with pytest.raises(BootError) as caught:
        extraction_root(environ, "site.pyz")
    assert str(caught.value) == (
        "site.pyz needs a writable directory to unpack itself into and found none: SHIV_ROOT "
        "and CACHE_DIRECTORY are not set, and neither XDG_CACHE_HOME nor HOME names a usable "
        "directory. Set SHIV_ROOT to a writable directory, or run it under systemd with "
        "CacheDirectory= set."
    )


def test_relative_shiv_root_is_refused() -> None:
    with pytest.raises(BootError) as caught:
        extraction_root({"SHIV_ROOT": "cache"}, "site.pyz")
    assert str(caught.value) == (
        "SHIV_ROOT must be an absolute path, but it is 'cache'. Set it to the absolute path "
        "of a writable directory and start site.pyz again."
    )


def test_unusable_shiv_root(tmp_path: Path) -> None:
    # A file where a directory should be: unusable even for root.
    (tmp_path / "cache").write_text("")
    with pytest.raises(BootError) as caught:
        extraction_root({"SHIV_ROOT": str(tmp_path / "cache")}, "site.pyz")
    assert str(caught.value) == (
        f"site.pyz cannot unpack itself into SHIV_ROOT={str(tmp_path / 'cache')!r}: "
        "File exists. Point SHIV_ROOT at a directory this user can write to."
    )


def test_unwritable_home_cache_names_it(tmp_path: Path) -> None:
    (tmp_path / ".cache").write_text("a file where a directory should be")
    with pytest.raises(BootError) as caught:
        extraction_root({"HOME": str(tmp_path)}, "site.pyz")
    assert f"the user cache directory {str(tmp_path / '.cache')!r} is not writable" in str(
        caught.value
    )


def test_same_python_passes() -> None:
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    check_python({"python": running, "implementation": sys.implementation.name}, "site.pyz")


def test_other_python_is_named() -> None:
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    with pytest.raises(BootError) as caught:
        check_python({"python": "3.9", "implementation": "cpython"}, "site.pyz")
    assert str(caught.value) == (
        f"site.pyz was built for cpython 3.9 and cannot run on cpython {running} "
        f"({sys.executable}): its dependencies are installed for 3.9 only. Start it with "
        f"python3.9 (python3.9 site.pyz ...), or rebuild it with Python {running}."
    )


def test_isolated_path_drops_the_interpreters_packages(tmp_path: Path) -> None:
    import sysconfig

    stdlib = sysconfig.get_path("stdlib")
    dynload = sysconfig.get_path("platstdlib") + "/lib-dynload"
    stdlib_zip = f"{sys.base_prefix}/lib/python{sys.version_info.major}{sys.version_info.minor}.zip"
    path = [
        "/srv/site.pyz",
        "/opt/extra",
        stdlib_zip,
        stdlib,
        dynload,
        stdlib + "/site-packages",
        "/venv/lib/python3.11/site-packages",
        "/usr/lib/python3/dist-packages",
        "/root/.local/lib/python3.11/site-packages",
        "/home/dev/checkout",  # added by an editable install's .pth file
    ]
    assert isolated_path(path, "/srv/site.pyz", "/opt/extra") == [
        "/srv/site.pyz",
        "/opt/extra",
        stdlib_zip,
        stdlib,
        dynload,
    ]


def test_isolated_path_keeps_pythonpath_even_in_site_packages() -> None:
    path = ["/srv/site.pyz", "/venv/lib/python3.11/site-packages"]
    kept = isolated_path(path, "/srv/site.pyz", "/venv/lib/python3.11/site-packages")
    assert kept == path
