"""A Channels chat site served by the archive under ASGI: websockets through a Redis
channel layer, an async view streaming server-sent events, static files and uploads
answered as under WSGI, and a reload under open websockets.

example_project with tests/projects/chat laid over it, built once for the module; its
own dependencies (channels, channels-redis) are installed for the build the way a
developer has them.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import django
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin

from tests.archives import (
    DEPENDENCY_CACHE,
    SECRET_KEY,
    Built,
    Server,
    build_in,
    copy_example,
    free_port,
    get,
    run_archive,
    running_server,
    site_env,
)
from tests.hosts import BootHosts
from tests.redis_server import needs_redis
from tests.sbom import packed_distributions
from tests.traffic import continuous_requests

pytestmark = [pytest.mark.e2e, pytest.mark.heavy, needs_redis]

OVERLAY = Path(__file__).resolve().parent / "projects" / "chat"
REQUIREMENTS = OVERLAY / "requirements-chat.txt"
# Debian's release whose python3 runs the archive this test environment builds; under
# another Python, the archive is built for Debian stable's (--python-version, wheels
# only). Bookworm's is 3.11.2: a build under a later 3.11 must still carry what a
# requirement asks for before 3.11.3 only (redis's async-timeout).
RELEASES = {(3, 11): "bookworm", (3, 13): "trixie"}
# What the transport adds on its own, which differs between gunicorn's and uvicorn's HTTP.
TRANSPORT = {"date", "server", "connection", "keep-alive", "transfer-encoding"}


def lay_over(project: Path) -> None:
    """example_project plus a chat app, its ASGI application and ZIPAPP_ASGI = True."""
    for source in sorted(OVERLAY.glob("*/*.py*")):
        target = project / source.relative_to(OVERLAY)
        target.parent.mkdir(exist_ok=True)
        if source.suffix == ".append":
            original = target.with_suffix("")
            original.write_text(original.read_text() + source.read_text())
        else:
            shutil.copy(source, target)
    requirements = project / "requirements.txt"
    requirements.write_text(requirements.read_text() + REQUIREMENTS.read_text())


def project_dependencies(work: Path) -> Path:
    """channels and channels-redis, installed once for building (kept between runs)."""
    wanted = REQUIREMENTS.read_text()
    key = hashlib.sha256(f"{sys.version}\n{django.__version__}\n{wanted}".encode()).hexdigest()[:12]
    target = DEPENDENCY_CACHE / f"chat-{key}"
    if not (target / ".complete").exists():
        shutil.rmtree(target, ignore_errors=True)
        constraints = work / "constraints-chat.txt"
        constraints.write_text(f"Django=={django.get_version()}\n")
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(target),
             "-c", str(constraints), "-r", str(REQUIREMENTS)],
            check=True,
            timeout=600,
        )  # fmt: skip
        (target / ".complete").touch()
    return target


@pytest.fixture(scope="module")
def chat_site(tmp_path_factory: pytest.TempPathFactory) -> Built:
    work = tmp_path_factory.mktemp("chat")
    project = copy_example(work / "project")
    lay_over(project)
    dependencies = project_dependencies(work)
    # With the verification: the build starts the new archive under ASGI, as serve would.
    environment = {"PYTHONPATH": str(dependencies)}
    result = build_in(project, "-o", str(work / "site.pyz"), env=environment, verify=True)
    assert result.returncode == 0, result.stdout + result.stderr
    built = Built(work / "site.pyz", result.stdout, work)
    migrated = run_archive(built, "migrate", "--noinput")
    assert migrated.returncode == 0, migrated.stderr
    return built


@contextmanager
def serving(
    built: Built, redis_url: str, log: Path, workers: int = 2, options: tuple[str, ...] = ()
) -> Iterator[Server]:
    """The archive's serve, as built (ASGI) unless options say otherwise."""
    environment = site_env(built, REDIS_URL=redis_url)
    with running_server(built.archive, environment, log, workers, options=options) as server:
        yield server
    assert "Traceback" not in log.read_text()


@contextmanager
def websocket(
    base: str, room: str = "lobby"
) -> Iterator[tuple[ClientConnection, dict[str, object]]]:
    """A chat connection, and the greeting that says which build and master took it."""
    address = base.replace("http://", "ws://") + f"/ws/chat/{room}/"
    with connect(address, origin=Origin(base), open_timeout=30) as connection:
        yield connection, json.loads(connection.recv(timeout=30))


def test_a_websocket_message_reaches_a_second_client(
    chat_site: Built, redis_url: str, tmp_path: Path
) -> None:
    with serving(chat_site, redis_url, tmp_path / "serve.log") as server:
        said = server.log.read_text()
        assert "Using worker: django_zipapp.runtime.asgi_worker.ArchiveWorker" in said
        # uvicorn's own log, though the settings' LOGGING switches off existing loggers.
        assert "Application startup complete." in said, said
        with websocket(server.base) as (first, greeting), websocket(server.base) as (second, _):
            assert greeting["build"] == "first"
            first.send("hello from the first client")
            # Both workers may hold one each: the message went through Redis.
            assert json.loads(second.recv(timeout=30)) == {"message": "hello from the first client"}
            assert json.loads(first.recv(timeout=30)) == {"message": "hello from the first client"}


def test_an_async_view_streams_while_a_page_answers(
    chat_site: Built, redis_url: str, tmp_path: Path
) -> None:
    """More open streams than a WSGI worker has threads, on one worker, and the home page
    still answers while they stream."""
    with serving(chat_site, redis_url, tmp_path / "serve.log", workers=1) as server:
        streams_and_a_page(server)


def streams_and_a_page(server: Server) -> None:
    port = int(server.base.rsplit(":", 1)[1])
    streams = []
    for _ in range(8):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("GET", "/events/?count=20")
        response = connection.getresponse()
        assert response.status == 200
        assert response.getheader("Content-Type") == "text/event-stream"
        assert response.readline() == b"data: 0\n"
        streams.append((connection, response))
    status, _, body = get(server.base + "/")
    assert status == 200 and b"<h1>Notes</h1>" in body
    for connection, response in streams:
        rest = response.read().decode()
        assert re.findall(r"data: (\d+)", rest) == [str(number) for number in range(1, 20)]
        connection.close()


def requests_to_compare(base: str) -> list[tuple[str, str, dict[str, str]]]:
    """Static files (hashed, gzip, 304, Range, HEAD, missing) and uploads (passive,
    active, traversal, missing), each asked twice: the second GET of a static file is
    the worker's answer from memory."""
    _, _, page = get(base + "/")
    css = re.search(rb'href="(/static/notes/site\.[0-9a-f]{12}\.css)"', page)
    assert css is not None, page
    hashed = css[1].decode()
    etag = {name.lower(): value for name, value in get(base + hashed)[1].items()}["etag"]
    plain: dict[str, str] = {}
    gzip = {"Accept-Encoding": "gzip"}
    return [
        ("GET", hashed, plain),
        ("GET", hashed, plain),
        ("GET", hashed, gzip),
        ("GET", hashed, gzip),
        ("GET", hashed, {"If-None-Match": etag}),
        ("GET", hashed, {"Range": "bytes=0-9"}),
        ("HEAD", hashed, plain),
        ("GET", "/static/notes/site.css", plain),
        ("GET", "/static/notes/missing.css", plain),
        ("GET", "/static/staticfiles.json", plain),
        ("GET", "/media/notes.txt", plain),
        ("GET", "/media/drawing.svg", plain),
        ("GET", "/media/%2e%2e/db.sqlite3", plain),
        ("GET", "/media/missing.txt", plain),
    ]


def answer(base: str, method: str, path: str, headers: dict[str, str]) -> tuple[object, ...]:
    port = int(base.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, headers=headers)
        response = connection.getresponse()
        body = response.read()
        kept = sorted(
            (name.lower(), value)
            for name, value in response.getheaders()
            if name.lower() not in TRANSPORT
        )
        return response.status, kept, hashlib.sha256(body).hexdigest()
    finally:
        connection.close()


def test_static_files_and_uploads_answer_as_under_wsgi(
    chat_site: Built, redis_url: str, tmp_path: Path
) -> None:
    environment = site_env(chat_site, REDIS_URL=redis_url)
    media = chat_site.work / "state" / "media"  # the example's MEDIA_ROOT
    media.mkdir(parents=True, exist_ok=True)
    (media / "notes.txt").write_text("plain text upload\n")
    (media / "drawing.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"></svg>\n')
    answers = {}
    for interface in ("--asgi", "--wsgi"):
        log = tmp_path / f"serve{interface}.log"
        with running_server(chat_site.archive, environment, log, options=(interface,)) as server:
            requests = requests_to_compare(server.base)
            answers[interface] = [answer(server.base, *request) for request in requests]
    for request, under_asgi, under_wsgi in zip(
        requests, answers["--asgi"], answers["--wsgi"], strict=True
    ):
        assert under_asgi == under_wsgi, request
    statuses = [status for status, _, _ in answers["--asgi"]]
    assert statuses == [200, 200, 200, 200, 304, 206, 200, 200, 404, 404, 200, 200, 404, 404]
    immutable = dict(answers["--asgi"][0][1])  # type: ignore[call-overload]
    assert "immutable" in immutable["cache-control"]
    gzipped = dict(answers["--asgi"][2][1])  # type: ignore[call-overload]
    assert gzipped["content-encoding"] == "gzip"
    svg = dict(answers["--asgi"][11][1])  # type: ignore[call-overload]
    assert svg["content-disposition"] == "attachment"
    assert svg["content-security-policy"] == "sandbox"


def closed_with(connection: ClientConnection) -> int | str:
    """The close code the server sent, once it closes the connection."""
    try:
        while True:
            connection.recv(timeout=120)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd is not None else f"no close frame: {closed!r}"


@contextmanager
def reconnected(
    base: str, room: str, refused: list[str]
) -> Iterator[tuple[ClientConnection, dict[str, object]]]:
    """A client's reconnection: again after a short pause while the handshake is refused.

    A connection that reaches an old worker in the instant between the old master's stop
    signal and that worker's own shutdown is refused by uvicorn (its handshake cannot
    finish there); a browser's reconnecting client tries again, as this one does.
    """
    for _ in range(50):
        try:
            with websocket(base, room) as opened:
                yield opened
                return
        except InvalidStatus as exc:
            refused.append(str(exc))
            time.sleep(0.1)
    raise AssertionError(f"no websocket accepted after the reload: {refused}")


@pytest.fixture(scope="module")
def second_chat_build(chat_site: Built) -> Built:
    """A second build of the chat site, whose greeting says so: a new deploy."""
    project = chat_site.work / "second"
    shutil.copytree(chat_site.work / "project", project, ignore=shutil.ignore_patterns("*.pyz"))
    (project / "chat" / "build.py").write_text('BUILD = "second"\n')
    environment = {"PYTHONPATH": str(project_dependencies(chat_site.work))}
    result = build_in(project, "-o", str(chat_site.work / "second.pyz"), env=environment)
    assert result.returncode == 0, result.stdout + result.stderr
    return Built(chat_site.work / "second.pyz", result.stdout, chat_site.work)


def test_a_reload_closes_websockets_cleanly_and_fails_no_request(
    chat_site: Built, second_chat_build: Built, redis_url: str, tmp_path: Path
) -> None:
    """A deploy under the unit's ExecReload= (USR2): a new master from the new archive
    on disk takes the sockets, the old one stops gracefully. Open websockets get 1012
    (service restart) and reconnect to the new build; plain requests all succeed."""
    archive = tmp_path / "srv" / "site.pyz"
    archive.parent.mkdir()
    shutil.copy2(chat_site.archive, archive)
    environment = site_env(chat_site, REDIS_URL=redis_url)
    new_master = None
    refused: list[str] = []
    with (
        running_server(archive, environment, tmp_path / "serve.log") as server,
        ExitStack() as stack,
    ):
        try:
            opened = [stack.enter_context(websocket(server.base, "reload")) for _ in range(3)]
            old_master = opened[0][1]["master"]
            assert old_master == server.process.pid
            assert opened[0][1]["build"] == "first"
            with continuous_requests(server.base + "/") as traffic:
                traffic.wait_for(b"<h1>Notes</h1>")
                # A deploy: the new build takes the archive's place, then the reload.
                shutil.copy2(second_chat_build.archive, archive.with_suffix(".new"))
                os.replace(archive.with_suffix(".new"), archive)
                server.process.send_signal(signal.SIGUSR2)
                codes = [closed_with(connection) for connection, _ in opened]
                assert server.process.wait(timeout=120) == 0
                with reconnected(server.base, "reload", refused) as (reopened, greeting):
                    new_master = int(str(greeting["master"]))
                    reopened.send("after the reload")
                    echoed = json.loads(reopened.recv(timeout=30))
                served_before = traffic.answered
                deadline = time.monotonic() + 60
                while traffic.answered < served_before + 20 and time.monotonic() < deadline:
                    time.sleep(0.05)
            assert codes == [1012, 1012, 1012]
            assert echoed == {"message": "after the reload"}
            assert new_master != old_master
            assert greeting["build"] == "second"
            assert traffic.failures == []
            assert traffic.answered >= served_before + 20
            print("reconnections refused during the hand-over:", refused)
        finally:
            if new_master is not None and os.path.exists(f"/proc/{new_master}"):
                os.kill(new_master, signal.SIGTERM)
                _wait_gone(new_master)
    assert "Traceback" not in (tmp_path / "serve.log").read_text()


def test_sighup_replaces_the_workers_under_open_websockets(
    chat_site: Built, redis_url: str, tmp_path: Path
) -> None:
    """gunicorn's HUP: new workers under the same master, the old ones stopped gracefully,
    their websockets closed with 1012; plain requests meanwhile all succeed."""
    refused: list[str] = []
    with (
        serving(chat_site, redis_url, tmp_path / "serve.log") as server,
        ExitStack() as stack,
    ):
        opened = [stack.enter_context(websocket(server.base, "hup")) for _ in range(2)]
        with continuous_requests(server.base + "/") as traffic:
            traffic.wait_for(b"<h1>Notes</h1>")
            server.process.send_signal(signal.SIGHUP)
            codes = [closed_with(connection) for connection, _ in opened]
            with reconnected(server.base, "hup", refused) as (reopened, greeting):
                reopened.send("after the HUP")
                echoed = json.loads(reopened.recv(timeout=30))
            served_before = traffic.answered
            deadline = time.monotonic() + 60
            while traffic.answered < served_before + 20 and time.monotonic() < deadline:
                time.sleep(0.05)
        assert server.process.poll() is None
    assert codes == [1012, 1012]
    assert echoed == {"message": "after the HUP"}
    assert greeting["master"] == server.process.pid
    assert traffic.failures == []
    assert traffic.answered >= served_before + 20
    print("reconnections refused during the HUP:", refused)


def _wait_gone(pid: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.05)
    if os.path.exists(f"/proc/{pid}"):
        os.kill(pid, signal.SIGKILL)


ASGI_WORKER = {"uvicorn-worker", "uvicorn", "websockets", "httptools", "uvloop"}


def packed(built: Built) -> set[str]:
    result = run_archive(built, "info", "--json")
    assert result.returncode == 0, result.stderr
    return {name.lower() for name in json.loads(result.stdout)["distributions"]}


def test_the_asgi_worker_is_packed_only_when_asked_for(chat_site: Built, built: Built) -> None:
    assert packed(chat_site) >= ASGI_WORKER
    assert ASGI_WORKER & packed(built) == set()


def test_an_archive_without_the_asgi_worker_refuses_asgi(built: Built) -> None:
    result = run_archive(built, "serve", "--asgi", "--bind", "127.0.0.1:1")
    assert result.returncode == 78
    assert result.stderr == (
        "error: serve was asked to run ASGI, but this archive holds no ASGI worker "
        "(uvicorn-worker). Set ZIPAPP_ASGI = True in the settings and build it again, or "
        "serve it under WSGI (serve --wsgi).\n"
    )


@pytest.fixture(scope="module")
def chat_for_host(chat_site: Built) -> tuple[Built, str]:
    """The chat site built for a Debian host's Python, and that host's release."""
    release = RELEASES.get(sys.version_info[:2])
    if release is not None:
        return chat_site, release
    project = chat_site.work / "project"
    output = chat_site.work / "host" / "site.pyz"
    output.parent.mkdir(exist_ok=True)
    environment = {"PYTHONPATH": str(project_dependencies(chat_site.work))}
    result = build_in(project, "-o", str(output), "--python-version", "3.13", env=environment)
    assert result.returncode == 0, result.stdout + result.stderr
    return Built(output, result.stdout, chat_site.work), "trixie"


def test_what_an_older_release_of_python_needs_is_packed(chat_site: Built) -> None:
    packed = {name for name, _ in packed_distributions(chat_site.archive)}
    needed = sys.version_info[:2] == (3, 11) and sys.version_info >= (3, 11, 3)
    assert ("async-timeout" in packed) is (needed or sys.version_info < (3, 11, 3))
    if needed:
        assert (
            "- Adding what the requirements need on an older release of Python 3.11, which "
            "the archive also runs on: async-timeout>=4.0.3\n"
        ) in chat_site.build_output


def test_websockets_under_the_generated_unit_survive_systemctl_reload(
    chat_for_host: tuple[Built, str], boot_hosts: BootHosts, redis_url: str, tmp_path: Path
) -> None:
    """The unit ``systemd-unit`` writes, on a booted Debian host (its sandbox, notify and
    ExecReload=): a message between two websockets, then ``systemctl reload`` under open
    websockets and continuous requests."""
    built, release = chat_for_host
    (host,) = boot_hosts(1, release=release)
    host.copy_in(built.archive, "/srv/chat/site.pyz", mode=0o755)
    # The host shares this machine's loopback: the test's Redis server serves it too.
    host.path("/etc/chat.env").write_text(f"SECRET_KEY={SECRET_KEY}\nREDIS_URL={redis_url}\n")
    host.path("/etc/chat.env").chmod(0o600)
    port = free_port()
    refused: list[str] = []
    host.run("/srv/chat/site.pyz", "systemd-unit", "--name", "chat", "--bind",
             f"127.0.0.1:{port}", "--env-file", "/etc/chat.env", "--directory",
             "/etc/systemd/system")  # fmt: skip
    host.systemctl("daemon-reload")
    host.run("/srv/chat/site.pyz", "systemd-run", "--unit", "chat", "migrate", "--noinput")
    host.systemctl("start", "chat.service")
    base = f"http://127.0.0.1:{port}"
    try:
        with websocket(base, "host") as (first, greeting), websocket(base, "host") as (second, _):
            first.send("through the unit")
            assert json.loads(second.recv(timeout=30)) == {"message": "through the unit"}
            with continuous_requests(base + "/") as traffic:
                traffic.wait_for(b"<h1>Notes</h1>")
                host.systemctl("reload", "chat.service")
                codes = [closed_with(first), closed_with(second)]
                with reconnected(base, "host", refused) as (_, after):
                    pass
                served_before = traffic.answered
                deadline = time.monotonic() + 60
                while traffic.answered < served_before + 20 and time.monotonic() < deadline:
                    time.sleep(0.05)
    finally:
        print(host.journal("chat.service"))  # shown when the test fails
        print("reconnections refused during the hand-over:", refused)
    assert codes == [1012, 1012]
    assert after["master"] != greeting["master"]
    assert traffic.failures == []
    assert traffic.answered >= served_before + 20
    # systemd follows the new master (MAINPID=), and the service stayed up throughout.
    main_pid = host.systemctl("show", "-p", "MainPID", "--value", "chat.service").stdout.strip()
    assert main_pid == str(after["master"])
    assert host.systemctl("is-active", "chat.service").stdout.strip() == "active"
    assert "Traceback" not in host.journal("chat.service")
