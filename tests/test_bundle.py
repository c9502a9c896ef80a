"""An archive that carries its own CPython (buildpyz --bundle-python), run with no Python.

Here, on this machine: every Python hidden by a private mount namespace (and PATH
empty), which proves the file needs none. On booted Debian hosts: tests/test_bundle_hosts.py.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from django_zipapp import boot
from django_zipapp.boot import BOOT_MODULE
from django_zipapp.builder.bundle import LAUNCHER, SHELL_NAMES
from django_zipapp.runtime.bundle import bundled_interpreter
from tests.archives import (
    Built,
    bundle_interpreter,
    bundle_of,
    get,
    run_archive,
    running_server,
    site_env,
)

pytestmark = [pytest.mark.e2e, pytest.mark.heavy]

# Run as a wrapper: a private mount namespace in which no Python is left to find.
HIDE_PYTHON = r"""
set -e
PATH=/usr/sbin:/usr/bin:/sbin:/bin
for d in "${PYENV_ROOT:-/root/.pyenv}" /usr/lib/python3* /usr/local/lib/python3*; do
  if [ -d "$d" ]; then mount -t tmpfs none "$d"; fi
done
for f in /usr/bin/python* /usr/local/bin/python* /bin/python*; do
  if [ -e "$f" ]; then mount --bind /dev/null "$f"; fi
done
exec env PATH= "$@"
"""
NO_PYTHON = ("unshare", "--mount", "--propagation", "private", "sh", "-c", HIDE_PYTHON, "hide")


@pytest.fixture(scope="module")
def bundle(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The session's archive with this machine's Python bundled, as buildpyz does it.

    Made from the archive already built rather than by a second build: buildpyz
    --bundle-python itself runs in tests/test_bundle_hosts.py.
    """
    work = tmp_path_factory.mktemp("bundle")
    return bundle_of(built, bundle_interpreter(work / "staging"), work)


@pytest.fixture(scope="module")
def hidden() -> tuple[str, ...]:
    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.skip("hiding every Python needs root and unshare (util-linux)")
    return NO_PYTHON


def python_free_env(built: Built) -> dict[str, str]:
    environment = site_env(built)
    environment.pop("PYENV_ROOT", None)
    environment.pop("PYENV_VERSION", None)
    return environment


def test_the_file_is_one_executable_sh_script(bundle: Built) -> None:
    assert os.access(bundle.archive, os.X_OK)
    assert bundle.archive.read_bytes().startswith(b"#!/bin/sh\n")


def test_no_python_is_left_in_the_namespace(bundle: Built, hidden: tuple[str, ...]) -> None:
    probe = (
        "PATH=/usr/local/bin:/usr/bin:/bin; for p in python python3 python3.11 python3.12 "
        'python3.13; do command -v "$p" && exit 1; done; echo none'
    )
    result = subprocess.run([*hidden, "/bin/sh", "-c", probe], capture_output=True, text=True)
    assert (result.returncode, result.stdout) == (0, "none\n"), result.stdout + result.stderr


def test_migrate_serve_and_info_without_python(
    bundle: Built, hidden: tuple[str, ...], tmp_path: Path
) -> None:
    environment = python_free_env(bundle)
    migrated = run_archive(bundle, "migrate", "--noinput", env=environment, wrapper=hidden)
    assert migrated.returncode == 0, migrated.stderr
    assert "Applying notes.0001_initial... OK" in migrated.stdout
    info = run_archive(bundle, "info", env=environment, wrapper=hidden)
    assert info.returncode == 0, info.stderr
    assert re.search(r"^interpreter    CPython 3\.\d+\.\d+ bundled, from /\S+; needs Linux "
                     r"\S+ with glibc 2\.\d+ or newer$", info.stdout, re.M)  # fmt: skip
    with running_server(bundle.archive, environment, tmp_path / "serve.log", wrapper=hidden) as s:
        status, _, body = get(s.base + "/")
        assert status == 200
        css = re.search(rb'href="(/static/[^"]+\.css)"', body)
        assert css is not None
        assert get(s.base + css[1].decode())[0] == 200
    # Unpacked once, beside the archive's extraction, in the same cache.
    cache = sorted(path.name for path in (bundle.work / "cache").iterdir())
    build_id = json.loads(run_archive(bundle, "info", "--json").stdout)["build_id"]
    assert f"site_{build_id}" in cache
    assert f"site_{build_id}.python" in cache


def test_the_archive_inside_is_the_plain_archive(
    bundle: Built, built: Built, tmp_path: Path
) -> None:
    data = bundle.archive.read_bytes()
    header = data[:4096].decode(errors="replace")
    start, size = (
        int(value) for value in re.findall(r"tail -c \+(\d+) .*head -c (\d+)", header)[0]
    )
    assert data[start - 1 + size :] == built.archive.read_bytes()
    outside = json.loads(run_archive(bundle, "info", "--json").stdout)
    inside = json.loads(run_archive(built, "info", "--json").stdout)
    assert outside.pop("interpreter")["needs"]["glibc"].startswith("2.")
    assert inside == outside


def test_an_older_glibc_is_refused_in_one_line(bundle: Built, tmp_path: Path) -> None:
    # The launcher asks getconf, as on any glibc host; this one answers as bullseye's would.
    # (The same on a real bullseye root: tests/test_bundle_hosts.py.)
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "getconf").write_text("#!/bin/sh\necho 'glibc 2.31'\n")
    (fake / "getconf").chmod(0o755)
    record = bundled_interpreter(bundle.archive)
    assert record is not None
    needs = record["needs"]["glibc"]
    environment = site_env(bundle, SHIV_ROOT=str(tmp_path / "cache"))
    environment["PATH"] = f"{fake}:/usr/bin:/bin"
    result = run_archive(bundle, "info", env=environment)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        f"error: site needs glibc {needs} or newer, but this host has glibc 2.31; rebuild "
        "it on an older system or with a python-build-standalone interpreter.\n"
    )
    assert not (tmp_path / "cache").exists()


def test_a_cut_bundle_is_refused(bundle: Built, tmp_path: Path) -> None:
    cut = tmp_path / "site"
    data = bundle.archive.read_bytes()
    cut.write_bytes(data[:-1000])
    cut.chmod(0o755)
    result = run_archive(Built(cut, "", tmp_path), "info", env=site_env(bundle))
    assert result.returncode == 1
    assert result.stderr == (
        f"error: site is damaged: it has {len(data) - 1000} bytes, not {len(data)}. "
        "Download it again.\n"
    )


def test_a_damaged_interpreter_is_refused_before_unpacking(bundle: Built, tmp_path: Path) -> None:
    data = bytearray(bundle.archive.read_bytes())
    start = int(re.findall(r"tail -c \+(\d+)", data[:4096].decode(errors="replace"))[0])
    data[start + 5000] ^= 0xFF
    damaged = tmp_path / "site"
    damaged.write_bytes(bytes(data))
    damaged.chmod(0o755)
    result = run_archive(
        Built(damaged, "", tmp_path), "info", env=site_env(bundle, SHIV_ROOT=str(tmp_path / "c"))
    )
    assert result.returncode == 1
    assert result.stderr == (
        "error: site is damaged: its interpreter does not match its checksum. Download it "
        "again; nothing was unpacked.\n"
    )
    assert [path.name for path in (tmp_path / "c").iterdir()] == []


def test_the_systemd_unit_runs_the_file_itself(bundle: Built) -> None:
    result = run_archive(bundle, "systemd-unit")
    assert result.returncode == 0, result.stderr
    exec_start = re.search(r"^ExecStart=(.*)$", result.stdout, re.M)
    assert exec_start is not None
    assert exec_start[1] == f"{bundle.archive} serve"  # SERVE_BIND decides where it listens
    # Reloaded by its own launcher too: the build machine's interpreter is not on a host.
    assert re.findall(r"^ExecReload=(.*)$", result.stdout, re.M) == [
        f"{bundle.archive} prepare",
        "/bin/kill -s USR2 $MAINPID",
    ]
    assert sys.executable not in result.stdout


def test_the_interpreter_is_pruned_with_its_build(tmp_path: Path) -> None:
    old = [tmp_path / f"site_{n:064x}" for n in (1, 2)]
    for extraction in old:
        (extraction / boot.SITE_PACKAGES).mkdir(parents=True)
        (extraction / boot.COMPLETE_MARKER).write_text("{}")
        (tmp_path / f"{extraction.name}.python" / "python").mkdir(parents=True)
    os.utime(old[0], (1, 1))  # the older one goes
    leftover = tmp_path / f".{old[1].name}.python.tmp-abcdefgh"
    leftover.mkdir()
    os.utime(leftover, (1, 1))
    current = tmp_path / f"site_{3:064x}"
    (current / boot.SITE_PACKAGES).mkdir(parents=True)
    assert boot.prune_builds(current, keep=2) == [old[0]]
    left = sorted(path.name for path in tmp_path.iterdir() if stat.S_ISDIR(path.stat().st_mode))
    assert left == [old[1].name, f"{old[1].name}.python", current.name]


def test_the_sites_programs_get_the_callers_environment(bundle: Built) -> None:
    """What the launcher changes to start its interpreter never reaches a program the
    site runs: that program would load the bundled libraries in place of its own."""
    # n and d: names of the launcher's own shell variables, exported by the caller.
    caller = site_env(
        bundle, LD_LIBRARY_PATH="/opt/caller/lib", PYTHONHOME="/opt/caller", n="caller n", d="/d"
    )
    seen = child_environment(bundle, caller)
    assert {name: seen.get(name) for name in caller} == caller
    assert [name for name in seen if name.startswith("DJANGO_ZIPAPP_")] == []
    # Nor when the caller had none of them.
    seen = child_environment(bundle, site_env(bundle))
    assert "LD_LIBRARY_PATH" not in seen and "PYTHONHOME" not in seen


def test_the_launcher_keeps_every_shell_variable_it_assigns() -> None:
    assigned = set(re.findall(r"(?:^|[\s;])([a-z])=", LAUNCHER, re.MULTILINE))
    assert assigned and assigned <= set(SHELL_NAMES)


def child_environment(bundle: Built, caller: dict[str, str]) -> dict[str, str]:
    """The environment of a program the site starts (env), as it prints it."""
    child = "import json, subprocess; print(json.dumps(subprocess.run(['env', '-0'], "
    child += "capture_output=True, text=True).stdout))"
    result = run_archive(bundle, "shell", "-c", child, env=caller)
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout.splitlines()[-1])
    return dict(item.split("=", 1) for item in printed.split("\0") if item)


def test_a_reload_starts_the_new_master_by_the_files_own_launcher(
    bundle: Built, tmp_path: Path
) -> None:
    """USR2 (the unit's ExecReload=): the new master starts as systemd started the first,
    by the file itself, not by the old build's interpreter."""
    assert run_archive(bundle, "migrate", "--noinput").returncode == 0
    log = tmp_path / "serve.log"
    new_master = None
    try:
        with running_server(bundle.archive, site_env(bundle), log, workers=1) as server:
            server.process.send_signal(signal.SIGUSR2)
            assert server.process.wait(timeout=120) == 0  # the new master stopped it
            masters = re.findall(r"\[(\d+)\] \[INFO\] Starting gunicorn", log.read_text())
            assert len(masters) == 2, log.read_text()
            new_master = int(masters[1])
            assert get(server.base + "/")[0] == 200
        command = Path(f"/proc/{new_master}/cmdline").read_bytes().split(b"\0")
        assert command[1] == b"-c" and BOOT_MODULE.encode() in command[2], command
        assert command[3:5] == [str(bundle.archive).encode(), b"serve"], command
    finally:
        if new_master is not None and os.path.exists(f"/proc/{new_master}"):
            os.kill(new_master, signal.SIGTERM)
    assert "Traceback" not in log.read_text()
