"""Debian hosts with their own systemd, booted with systemd-nspawn, for the tests.

A Debian root is made with debootstrap once and cached between runs (see `debian_root`);
each host boots from an overlay of it, so that hosts are independent and cheap. Hosts
share the machine's network: each one's sshd listens on a loopback port of its own, and
so must every site a test starts in it.

Use from a test (the fixtures are registered in tests/conftest.py, which also marks every
test that uses them `hosts` and skips it where hosts cannot boot):

    def test_x(host: Host) -> None:                   # one Debian stable host
        host.copy_in(archive, "/srv/site/site.pyz")
        host.run("/srv/site/site.pyz", "check")

    def test_y(boot_hosts: BootHosts) -> None:        # several, or another variant
        old, bare = boot_hosts(1, release="bookworm")[0], boot_hosts(1, python=False)[0]

From another fixture of any scope, `with booted(n, key=..., release=...) as hosts:` does
the same. Environment: DJANGO_ZIPAPP_TEST_HOSTS_CACHE (where roots are kept, default
~/.cache/django-zipapp-tests/hosts), DJANGO_ZIPAPP_TEST_DEBIAN_MIRROR.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.archives import free_port

STABLE = "trixie"
# Bumped whenever what a root holds changes, so that cached roots are rebuilt.
RECIPE = 1
PACKAGES = ("systemd-sysv", "dbus", "libnss-systemd", "openssh-server", "sudo", "procps")
# Units a container has no use for, and that would only slow its boot or fail in it.
MASKED = (
    "systemd-networkd-wait-online.service",
    "systemd-timesyncd.service",
    "console-getty.service",
    "getty@.service",
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "dpkg-db-backup.timer",
    "e2scrub_all.timer",
    "fstrim.timer",
)
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
TOOLS = ("debootstrap", "systemd-nspawn", "nsenter", "ssh-keygen", "mount")


def unavailable() -> str | None:
    """Why hosts cannot boot here, or None when they can."""
    if os.geteuid() != 0:
        return "booting Debian hosts with systemd-nspawn needs root"
    missing = [
        tool for tool in TOOLS if shutil.which(tool, path=f"{PATH}:{os.environ['PATH']}") is None
    ]
    if missing:
        packages = "debootstrap systemd-container openssh-client"
        return f"booting Debian hosts needs {', '.join(missing)} (Debian packages: {packages})"
    return None


def cache_dir() -> Path:
    configured = os.environ.get("DJANGO_ZIPAPP_TEST_HOSTS_CACHE")
    return Path(configured) if configured else Path.home() / ".cache/django-zipapp-tests/hosts"


def debian_root(release: str = STABLE, python: bool = True) -> Path:
    """A Debian root for `release`, made once and kept; `python=False` has no Python at all."""
    name = f"{release}{'' if python else '-nopython'}-r{RECIPE}"
    root = cache_dir() / name
    cache_dir().mkdir(parents=True, exist_ok=True)
    # One builder at a time, even across test runs side by side.
    with (cache_dir() / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (root / ".django-zipapp-complete").is_file():
            _make_root(root, release, python)
    return root


def _make_root(root: Path, release: str, python: bool) -> None:
    if root.exists():  # left incomplete
        shutil.rmtree(root)
    building = Path(tempfile.mkdtemp(prefix=f".{root.name}-", dir=root.parent))
    try:
        packages = PACKAGES + (("python3",) if python else ())
        mirror = os.environ.get("DJANGO_ZIPAPP_TEST_DEBIAN_MIRROR", "http://deb.debian.org/debian")
        _check([
            "debootstrap", "--variant=minbase", f"--include={','.join(packages)}",
            release, str(building), mirror,
        ])  # fmt: skip
        _configure(building)
        if not python and list(building.glob("usr/bin/python*")):
            raise AssertionError(
                f"the root without Python has {list(building.glob('usr/bin/python*'))}"
            )
        (building / ".django-zipapp-complete").write_text(f"{release} recipe {RECIPE}\n")
        building.rename(root)
    finally:
        if building.exists():
            shutil.rmtree(building)


def _configure(root: Path) -> None:
    for unit in MASKED:
        (root / "etc/systemd/system" / unit).unlink(missing_ok=True)
        (root / "etc/systemd/system" / unit).symlink_to("/dev/null")
    # Each host gets a machine ID of its own at boot.
    (root / "etc/machine-id").write_text("")
    (root / "var/lib/dbus/machine-id").unlink(missing_ok=True)
    for path in (root / "var/cache/apt/archives").glob("*.deb"):
        path.unlink()
    (root / "etc/ssh/sshd_config.d").mkdir(parents=True, exist_ok=True)


@dataclass
class Host:
    """One booted host. Commands run inside it through nsenter, as root."""

    name: str
    root: Path  # the host's file system, as seen from this machine
    pid: int  # its PID 1, for `nsenter -t PID -a`
    ssh_port: int
    key: Path  # the private key that logs in as root over ssh
    nspawn: subprocess.Popen[bytes] = field(repr=False)
    console: Path = field(repr=False)
    booting: _Booting | None = field(default=None, repr=False)

    def power_cycle(self) -> str:
        """Cut the host's power, boot it again on the same disk; the system's state."""
        self.power_off()
        return self.power_on()

    def power_off(self) -> None:
        """Cut the host's power: every process ends at once, its sshd refuses connections."""
        _power_off(self.nspawn)

    def power_on(self) -> str:
        """Boot the host again on the same disk, after power_off(); the system's state."""
        self.nspawn = _nspawn(self.name, self.root, self.console)
        if self.booting is not None:
            self.booting.nspawn = self.nspawn
        self.pid = _container_pid(
            _Booting(
                self.name, self.root.parent, self.root, self.ssh_port, self.nspawn, self.console
            )
        )
        return self.wait_until_up()

    def run(
        self, *argv: str, input: str | None = None, check: bool = True, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        """Run argv inside the host as root, with a clean environment."""
        enter = ["nsenter", "-t", str(self.pid), "-a", "--", "env", "-i", f"PATH={PATH}"]
        enter += ["LANG=C.UTF-8", "HOME=/root"]
        result = subprocess.run(
            [*enter, *argv], input=input, capture_output=True, text=True, timeout=timeout
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"{self.name}: {' '.join(argv)} exited with {result.returncode}:\n"
                f"{result.stdout}{result.stderr}"
            )
        return result

    def systemctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("systemctl", *args, check=check)

    def journal(self, unit: str) -> str:
        return self.run("journalctl", "--no-pager", "-o", "cat", "-u", unit).stdout

    def copy_in(self, src: Path | str, dest: str, mode: int | None = None) -> None:
        """Copy a file of this machine to the absolute path `dest` inside the host."""
        target = self.path(dest)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)
        if mode is not None:
            target.chmod(mode)

    def path(self, inside: str) -> Path:
        """Where an absolute path of the host is, seen from this machine."""
        return self.root / inside.lstrip("/")

    def ssh_command(self) -> list[str]:
        """ssh as root to this host; append the remote command."""
        return [
            "ssh", "-i", str(self.key), "-p", str(self.ssh_port),
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR", "-o", "BatchMode=yes", "root@127.0.0.1",
        ]  # fmt: skip

    def wait_until_up(self, timeout: float = 120) -> str:
        """Wait for systemd to finish booting and sshd to answer; the system's state."""
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            if self.nspawn.poll() is not None:
                raise AssertionError(f"{self.name} stopped:\n{self.console.read_text()[-3000:]}")
            result = self.run(
                "systemctl", "is-system-running", "--wait", check=False, timeout=timeout
            )
            state = result.stdout.strip()
            if state in ("running", "degraded"):
                break
            time.sleep(0.2)  # "offline" or "unknown": its systemd has not started yet
        else:
            raise AssertionError(
                f"{self.name} did not boot ({state!r}):\n{self.console.read_text()[-3000:]}"
            )
        _wait_for_port(self.ssh_port, deadline)
        return state


@dataclass
class _Booting:
    name: str
    workdir: Path
    merged: Path
    ssh_port: int
    nspawn: subprocess.Popen[bytes]
    console: Path


def _wait_for_port(port: int, deadline: float) -> None:
    import socket

    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"nothing answers on 127.0.0.1:{port}")


def make_key(directory: Path) -> Path:
    """An ssh key pair in directory; the private key's path (its .pub beside it)."""
    key = directory / "id_ed25519"
    _check(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "django-zipapp-tests", "-f", str(key)]
    )
    return key


@contextlib.contextmanager
def booted(
    count: int, key: Path, release: str = STABLE, python: bool = True, prefix: str = "host"
) -> Iterator[list[Host]]:
    """Boot `count` hosts from the cached root; stop and remove them on the way out."""
    lower = debian_root(release, python)
    work = Path(tempfile.mkdtemp(prefix="django-zipapp-hosts-"))
    # What the hosts write (their overlays' upper layers) lives in memory: removing
    # thousands of unpacked files from a busy disk took minutes, an unmount takes none.
    _check(["mount", "-t", "tmpfs", "-o", "mode=0700,size=8g", "django-zipapp-hosts", str(work)])
    starting: list[_Booting] = []
    hosts: list[Host] = []
    try:
        for index in range(count):
            starting.append(_start(lower, work, f"{prefix}{index + 1}-{os.getpid()}", key))
        for booting in starting:
            pid = _container_pid(booting)
            hosts.append(
                Host(
                    booting.name,
                    booting.merged,
                    pid,
                    booting.ssh_port,
                    key,
                    booting.nspawn,
                    booting.console,
                    booting,
                )
            )
        for host in hosts:
            host.wait_until_up()
        yield hosts
    finally:
        for booting in starting:
            _stop(booting)
        if subprocess.run(["umount", str(work)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "--lazy", str(work)], capture_output=True)
        work.rmdir()


def _start(lower: Path, work: Path, name: str, key: Path) -> _Booting:
    workdir = work / name
    upper, scratch, merged = workdir / "upper", workdir / "work", workdir / "root"
    for folder in (upper, scratch, merged):
        folder.mkdir(parents=True)
    options = f"lowerdir={lower},upperdir={upper},workdir={scratch}"
    _check(["mount", "-t", "overlay", "overlay", "-o", options, str(merged)])
    port = free_port()
    (merged / "etc/ssh/sshd_config.d/django-zipapp-tests.conf").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nPermitRootLogin prohibit-password\n"
    )
    ssh = merged / "root/.ssh"
    ssh.mkdir(mode=0o700, exist_ok=True)
    shutil.copyfile(key.with_suffix(".pub"), ssh / "authorized_keys")
    (ssh / "authorized_keys").chmod(0o600)
    (merged / "etc/hostname").write_text(f"{name}\n")
    console = workdir / "console.log"
    return _Booting(name, workdir, merged, port, _nspawn(name, merged, console), console)


def _nspawn(name: str, merged: Path, console: Path) -> subprocess.Popen[bytes]:
    with console.open("ab") as output:
        return subprocess.Popen(
            [
                "systemd-nspawn", "--boot", "--register=no", "--keep-unit", "--quiet",
                "--console=read-only", f"--machine={name}", f"--directory={merged}",
            ],
            stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


def _container_pid(booting: _Booting, timeout: float = 30) -> int:
    """The container's PID 1: the process among nspawn's children whose own PID is 1."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if booting.nspawn.poll() is not None:
            raise AssertionError(f"systemd-nspawn exited:\n{booting.console.read_text()[-3000:]}")
        for pid in _children(booting.nspawn.pid):
            if _namespaced_pid(pid) == 1:
                return pid
        time.sleep(0.05)
    raise AssertionError(f"{booting.name}: no PID 1 after {timeout} s")


def _children(pid: int) -> list[int]:
    try:
        return [
            int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        ]
    except OSError:
        return []


def _namespaced_pid(pid: int) -> int | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("NSpid:"):
            return int(line.split()[-1])
    return None


def _power_off(nspawn: subprocess.Popen[bytes]) -> None:
    # Killing PID 1 ends every process of the container at once, as a power cut would
    # (what was written stays written: the files are this machine's), and nspawn exits.
    for pid in _children(nspawn.pid):
        if _namespaced_pid(pid) == 1:
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        nspawn.send_signal(signal.SIGTERM)
    try:
        nspawn.wait(timeout=20)
    except subprocess.TimeoutExpired:
        nspawn.kill()
        nspawn.wait()


def _stop(booting: _Booting) -> None:
    # Throw-away hosts: no clean shutdown.
    _power_off(booting.nspawn)
    for _ in range(50):
        if subprocess.run(["umount", str(booting.merged)], capture_output=True).returncode == 0:
            break
        time.sleep(0.1)
    else:
        subprocess.run(["umount", "--lazy", str(booting.merged)], capture_output=True)


def _check(argv: list[str]) -> None:
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode != 0:
        raise AssertionError(
            f"{' '.join(argv)} exited with {result.returncode}:\n{result.stdout}{result.stderr}"
        )


BootHosts = Callable[..., list[Host]]


@pytest.fixture(scope="session")
def hosts_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ssh key authorized for root on every host of the session."""
    return make_key(tmp_path_factory.mktemp("hosts-key"))


@pytest.fixture
def boot_hosts(hosts_key: Path) -> Iterator[BootHosts]:
    """boot_hosts(count=1, release=STABLE, python=True): hosts removed after the test."""
    with contextlib.ExitStack() as stack:

        def boot(count: int = 1, release: str = STABLE, python: bool = True) -> list[Host]:
            return stack.enter_context(booted(count, hosts_key, release, python))

        yield boot


@pytest.fixture
def host(boot_hosts: BootHosts) -> Host:
    """One Debian stable host with Python, removed after the test."""
    return boot_hosts(1)[0]


# Tests that use any of these are marked `hosts` (and skipped where hosts cannot boot).
FIXTURES = frozenset({"hosts_key", "boot_hosts", "host"})


def mark_host_tests(items: list[pytest.Item]) -> None:
    reason = unavailable()
    for item in items:
        if FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.hosts)
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))
