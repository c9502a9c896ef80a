"""``./site.pyz systemd-unit``: units that systemd accepts and scores as well sandboxed."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.archives import Built, run_archive, site_env

pytestmark = pytest.mark.e2e

ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(
    ANALYZE is None, reason="systemd-analyze is not installed (Debian: apt-get install systemd)"
)


def unit_env(built: Built) -> dict[str, str]:
    environment = site_env(built)
    del environment["SECRET_KEY"]  # writing a unit needs no configuration
    return environment


def write_units(built: Built, directory: Path, *options: str) -> None:
    directory.mkdir()
    result = run_archive(
        built, "systemd-unit", "--directory", str(directory), *options, env=unit_env(built)
    )
    assert result.returncode == 0, result.stderr


def exposure(unit: Path) -> float:
    assert ANALYZE is not None
    result = subprocess.run(
        [ANALYZE, "security", "--offline=true", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d)", result.stdout)
    assert match is not None, result.stdout + result.stderr
    return float(match[1])


def verify(*units: Path) -> None:
    assert ANALYZE is not None
    result = subprocess.run(
        [ANALYZE, "verify", "--man=no", *map(str, units)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_prints_a_unit_for_the_archive_at_its_real_path(built: Built, tmp_path: Path) -> None:
    config = tmp_path / "site.yaml"
    link = tmp_path / "current.pyz"
    link.symlink_to(built.archive)
    result = subprocess.run(
        [str(link), "-C", str(config), "systemd-unit", "--env-file", "/etc/site.env"],
        env=unit_env(built),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "# site.service"  # named after the real file, not the link
    assert "Type=notify" in lines
    (start,) = [line for line in lines if line.startswith("ExecStart=")]
    # No --bind: where the site listens is SERVE_BIND's to say, in the configuration.
    assert start.endswith(f" {built.archive} -C %d/config.yaml serve")
    assert f"LoadCredential=config.yaml:{config}" in lines
    assert "EnvironmentFile=/etc/site.env" in lines
    reload = [line for line in lines if line.startswith("ExecReload=")]
    assert reload[0].endswith(f" {built.archive} prepare")
    assert reload[1:] == ["ExecReload=/bin/kill -s USR2 $MAINPID"]
    for setting in ("DynamicUser=yes", "StateDirectory=site", "CacheDirectory=site",
                    "ProtectSystem=strict", "CapabilityBoundingSet=", "UMask=0077"):  # fmt: skip
        assert setting in lines


def test_units_are_text_written_without_unpacking_or_any_environment(
    built: Built, tmp_path: Path
) -> None:
    """`env -i python3 site.pyz systemd-unit`: no HOME, no SHIV_ROOT, no cache directory,
    and nothing unpacked or written but the units asked for."""
    config = tmp_path / "site.yaml"
    config.write_text("SERVE_BIND: 127.0.0.1:9999\n")
    never = tmp_path / "shiv-root"  # where an extraction would go, were there one
    units = tmp_path / "units"
    units.mkdir()
    before = sorted(tmp_path.rglob("*"))

    def unit(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, str(built.archive), "-C", str(config), "systemd-unit", *args]
        return subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True,
                              timeout=120)  # fmt: skip

    for env in ({}, {"SHIV_ROOT": str(never)}):
        printed = unit(env=env)
        assert printed.returncode == 0, printed.stderr
        assert printed.stderr.startswith("note: this site also declares"), printed.stderr
        (start,) = [line for line in printed.stdout.splitlines() if line.startswith("ExecStart=")]
        assert start == f"ExecStart={sys.executable} {built.archive} -C %d/config.yaml serve"
    socket = unit("--socket", env={})
    assert socket.returncode == 0, socket.stderr
    assert "ListenStream=127.0.0.1:8000" in socket.stdout.splitlines()
    written = unit("--directory", str(units), env={})
    assert written.returncode == 0, written.stderr
    files = sorted(units.iterdir())
    assert units / "site.service" in files
    assert sorted(written.stdout.splitlines()) == [f"Wrote {path}" for path in files]
    assert sorted(tmp_path.rglob("*")) == sorted([*before, *files])
    assert not never.exists()


def test_no_network_needs_socket_activation(built: Built) -> None:
    result = run_archive(built, "systemd-unit", "--no-network", env=unit_env(built))
    assert result.returncode == 2
    assert result.stderr.endswith(
        "error: --no-network needs --socket: with no network of its own, serve can only "
        "answer on a socket that systemd opens for it\n"
    )


def test_an_unwritable_directory_is_one_clean_error(built: Built, tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    result = run_archive(built, "systemd-unit", "--directory", str(missing), env=unit_env(built))
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.endswith(
        f"error: cannot write {str(missing / 'site.service')!r}: No such file or directory. "
        "Give --directory an existing directory you can write to.\n"
    )


@needs_analyze
def test_unit_for_a_tcp_database_scores_ok(built: Built, tmp_path: Path) -> None:
    units = tmp_path / "units"
    write_units(built, units, "--writable", str(tmp_path), "--env-file", "/etc/hostname")
    service = units / "site.service"
    assert "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6" in service.read_text()
    verify(service)
    assert exposure(service) <= 1.5


@needs_analyze
def test_socket_activated_unit_without_network_is_safe(built: Built, tmp_path: Path) -> None:
    units = tmp_path / "units"
    write_units(built, units, "--socket", "--no-network", "--name", "notes")
    service, socket = units / "notes.service", units / "notes.socket"
    assert "PrivateNetwork=yes" in service.read_text()
    assert "ListenStream=127.0.0.1:8000" in socket.read_text()
    verify(service, socket)
    assert exposure(service) <= 0.5


def another_python() -> str | None:
    """An interpreter of another Python version than this one, when the machine has one."""
    ours = f"{sys.version_info[0]}.{sys.version_info[1]}"
    for name in ("python3", "python3.13", "python3.12", "python3.11", "python3.10"):
        found = shutil.which(name, path="/usr/local/bin:/usr/bin:/bin")
        if found is None:
            continue
        version = subprocess.run(
            [found, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.strip()
        if version and version != ours:
            return found
    return None


def test_an_interpreter_of_another_python_is_warned_about(built: Built) -> None:
    other = another_python()
    if other is None:
        pytest.skip("no interpreter of another Python version in /usr/bin or /usr/local/bin")
    ours = f"{sys.version_info[0]}.{sys.version_info[1]}"
    result = run_archive(built, "systemd-unit", "--python", other, env=unit_env(built))
    assert result.returncode == 0, result.stderr
    assert f"ExecStart={other} {built.archive} serve" in result.stdout.splitlines()
    version = subprocess.run(
        [other, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout.strip()
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert warnings == [
        f"warning: {other} is Python {version}, but this archive was built for Python {ours}, "
        f"under which alone it starts: give --python a Python {ours}."
    ]
    # The path of a server, not of this machine: nothing to say.
    elsewhere = run_archive(
        built, "systemd-unit", "--python", "/opt/python/bin/python3", env=unit_env(built)
    )
    assert elsewhere.returncode == 0, elsewhere.stderr
    assert "warning: " not in elsewhere.stderr
