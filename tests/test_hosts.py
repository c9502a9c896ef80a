"""The booted Debian hosts themselves: independent, reachable over ssh, removed afterwards."""

from __future__ import annotations

import subprocess

from tests.hosts import BootHosts


def test_hosts_boot_independent_with_ssh_and_python(boot_hosts: BootHosts) -> None:
    first, second = boot_hosts(2)
    first.run("touch", "/etc/only-on-first")
    assert not second.path("/etc/only-on-first").exists()
    assert first.ssh_port != second.ssh_port
    for host in (first, second):
        over_ssh = subprocess.run(
            [*host.ssh_command(), "python3", "-c", "'import socket; print(socket.gethostname())'"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert over_ssh.stdout.strip() == host.name, over_ssh.stderr
        assert host.systemctl("is-system-running").stdout.strip() == "running"


def test_hosts_of_an_older_release_and_without_python(boot_hosts: BootHosts) -> None:
    (old,) = boot_hosts(1, release="bookworm")
    (bare,) = boot_hosts(1, python=False)
    assert old.run("cat", "/etc/debian_version").stdout.startswith("12.")
    assert old.run("python3", "--version").stdout.startswith("Python 3.11")
    assert bare.run("sh", "-c", "command -v python3", check=False).returncode != 0
    assert not list(bare.path("/usr/bin").glob("python*"))
