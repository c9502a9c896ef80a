"""serve as systemd runs it: readiness, socket activation, reload onto a new archive."""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.archives import Built, Server, free_port, get, running_server, site_env

pytestmark = pytest.mark.e2e

SOCKET_ACTIVATE = shutil.which("systemd-socket-activate")
PR_SET_CHILD_SUBREAPER = 36


@pytest.fixture(scope="module")
def subreaper() -> None:
    # After a reload the new master outlives the old one, its parent: it must become
    # this process's child (as it becomes systemd's) to be waited for.
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


@contextmanager
def notify_socket() -> Iterator[tuple[socket.socket, str]]:
    """What systemd listens on for sd_notify(): an abstract datagram socket."""
    name = f"django-zipapp-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind("\0" + name)
        listener.settimeout(120)
        yield listener, "@" + name


def wait_for_message(listener: socket.socket, prefix: str) -> str:
    while True:
        message = listener.recv(4096).decode()
        if message.startswith(prefix):
            return message


@dataclass
class Client:
    """Requests / over and over, on a new connection each time, until stopped."""

    url: str
    answered: list[bytes] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.answered.append(get(self.url)[2])
            except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
                self.failed.append(repr(error))

    def rebuilt_answers(self) -> int:
        return sum(b"<h1>Notes, rebuilt</h1>" in body for body in self.answered)


def serve_command(archive: Path, environment: dict[str, str], port: int, mode: str) -> list[str]:
    serve = [str(archive), "serve", "--workers", "2"]
    if mode == "bind":
        return [*serve, "--bind", f"127.0.0.1:{port}"]
    assert SOCKET_ACTIVATE is not None
    # systemd-socket-activate listens, then execs serve with LISTEN_FDS, as systemd does.
    variables = [f"--setenv={name}={value}" for name, value in environment.items()]
    return [SOCKET_ACTIVATE, f"--listen=127.0.0.1:{port}", *variables, *serve]


def wait_for_listener(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on port {port}")


def stop(pid: int) -> int:
    os.kill(pid, signal.SIGTERM)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


@pytest.mark.usefixtures("subreaper")
@pytest.mark.parametrize(
    "mode",
    [
        "bind",
        pytest.param(
            "socket",
            marks=pytest.mark.skipif(
                SOCKET_ACTIVATE is None, reason="systemd-socket-activate is not installed"
            ),
        ),
    ],
)
def test_reload_picks_up_the_new_archive_without_failing_a_request(
    migrated: Built, rebuilt: Built, tmp_path: Path, mode: str
) -> None:
    archive = tmp_path / "srv" / "site.pyz"
    archive.parent.mkdir()
    shutil.copy2(migrated.archive, archive)
    port = free_port()
    with notify_socket() as (listener, address), (tmp_path / "serve.log").open("wb") as log:
        environment = site_env(migrated, NOTIFY_SOCKET=address)
        process = subprocess.Popen(
            serve_command(archive, environment, port, mode),
            env=environment,
            cwd="/",
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        new_master = None
        try:
            if mode == "socket":
                # Like systemd for a socket unit, it starts serve at the first connection.
                wait_for_listener(port)
            assert wait_for_message(listener, "READY=1").startswith("READY=1")
            client = Client(f"http://127.0.0.1:{port}/")
            thread = threading.Thread(target=client.run)
            thread.start()
            try:
                # The deploy the docs describe: copy next to the old one, rename, reload.
                shutil.copy2(rebuilt.archive, archive.with_name(".site.pyz.new"))
                os.replace(archive.with_name(".site.pyz.new"), archive)
                process.send_signal(signal.SIGUSR2)  # ExecReload=
                new_master = int(wait_for_message(listener, "MAINPID=").split("=")[1])
                assert process.wait(timeout=60) == 0  # the old master stopped gracefully
                deadline = time.monotonic() + 60
                while client.rebuilt_answers() < 20 and time.monotonic() < deadline:
                    time.sleep(0.05)
            finally:
                client.stop.set()
                thread.join()
            assert client.failed == []
            assert client.rebuilt_answers() >= 20
            assert len(client.answered) > client.rebuilt_answers()  # served before, too
            assert stop(new_master) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            if new_master is not None and os.path.exists(f"/proc/{new_master}"):
                os.kill(new_master, signal.SIGKILL)
    output = (tmp_path / "serve.log").read_text()
    assert "Traceback" not in output


def test_a_request_error_reaches_stderr(built: Built, tmp_path: Path) -> None:
    # No migrate in this state directory: the home page's query fails.
    (tmp_path / "state").mkdir()
    environment = site_env(built, STATE_DIRECTORY=str(tmp_path / "state"))
    log = tmp_path / "serve.log"
    with running_server(built.archive, environment, log, workers=1) as server:
        assert_internal_error(server)
    output = log.read_text()
    assert "[ERROR] django.request: Internal Server Error: /" in output
    assert "no such table: notes_note" in output


def assert_internal_error(server: Server) -> None:
    with pytest.raises(urllib.error.HTTPError) as failed:
        get(server.base + "/")
    assert failed.value.code == 500
    failed.value.close()


def test_a_reload_onto_a_broken_archive_keeps_the_old_one_serving(
    migrated: Built, tmp_path: Path
) -> None:
    archive = tmp_path / "srv" / "site.pyz"
    archive.parent.mkdir()
    shutil.copy2(migrated.archive, archive)
    log = tmp_path / "serve.log"
    with running_server(archive, site_env(migrated), log, workers=1) as server:
        broken = archive.with_name(".site.pyz.new")
        broken.write_bytes(archive.read_bytes()[:100_000])  # cut short in transfer
        broken.chmod(0o755)
        os.replace(broken, archive)
        server.process.send_signal(signal.SIGUSR2)
        deadline = time.monotonic() + 60
        while not failed_after_usr2(log) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert failed_after_usr2(log), log.read_text()
        assert get(server.base + "/")[0] == 200
        assert server.process.poll() is None


def failed_after_usr2(log: Path) -> bool:
    # Python refuses the cut file ("SyntaxError: source code cannot contain null bytes").
    _, signalled, after = log.read_text().partition("Handling signal: usr2")
    return bool(signalled) and "Error" in after
