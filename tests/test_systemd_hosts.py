"""The units exactly as `systemd-unit` writes them, under real systemd on a booted host.

One Debian host (of the release whose Python runs these tests, so that the archives
built here run there) serves three builds of example_project in turn; commands run
beside the service through `site.pyz systemd-run`, under continuous requests.
"""

from __future__ import annotations

import re
import sys
import urllib.error
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.archives import SECRET_KEY, build_in, copy_example, free_port, get
from tests.hosts import Host, booted
from tests.traffic import continuous_requests

# Debian's release whose python3 is the one running the tests.
RELEASES = {(3, 11): "bookworm", (3, 13): "trixie"}
RELEASE = RELEASES.get(sys.version_info[:2])

pytestmark = [
    pytest.mark.hosts,
    pytest.mark.skipif(RELEASE is None, reason=f"no Debian release has Python {sys.version}"),
]

COMMAND = """\
from django.core.management.base import BaseCommand

from notes.models import Note


class Command(BaseCommand):
    help = "Add a note."

    def add_arguments(self, parser):
        parser.add_argument("text")

    def handle(self, *args, **options):
        Note.objects.create(title=options["text"])
"""
BOOM = """

def boom(request):
    raise RuntimeError("boom: a request error for the journal")
"""


@dataclass(frozen=True)
class Builds:
    archives: list[Path]


def _build(work: Path, version: int) -> Path:
    project = copy_example(work / f"v{version}" / "project")
    home = project / "notes" / "templates" / "notes" / "home.html"
    home.write_text(home.read_text().replace("<h1>Notes</h1>", f"<h1>Notes v{version}</h1>"))
    commands = project / "notes" / "management" / "commands"
    commands.mkdir(parents=True)
    (commands.parent / "__init__.py").write_text("")
    (commands / "__init__.py").write_text("")
    (commands / "addnote.py").write_text(COMMAND)
    with (project / "notes" / "views.py").open("a") as views:
        views.write(BOOM)
    urls = project / "example" / "urls.py"
    urls.write_text(
        urls.read_text()
        .replace("import home", "import boom, home")
        .replace('    path("admin/"', '    path("boom/", boom),\n    path("admin/"')
    )
    result = build_in(project, "-o", str(work / f"v{version}" / "site.pyz"))
    assert result.returncode == 0, result.stdout + result.stderr
    return work / f"v{version}" / "site.pyz"


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> Builds:
    work = tmp_path_factory.mktemp("host-builds")
    with ThreadPoolExecutor(3) as pool:
        return Builds(list(pool.map(lambda version: _build(work, version), (1, 2, 3))))


@pytest.fixture(scope="module")
def machine(hosts_key: Path) -> Iterator[Host]:
    assert RELEASE is not None
    with booted(1, hosts_key, release=RELEASE, prefix="systemd") as hosts:
        yield hosts[0]


def install(host: Host, archive: Path, name: str, port: int, *unit_options: str) -> None:
    """The archive at /srv/NAME/site.pyz, its env file, and the units it writes itself."""
    host.copy_in(archive, f"/srv/{name}/site.pyz", mode=0o755)
    env = f"SECRET_KEY={SECRET_KEY}\nKEEP_BUILDS=2\n"
    host.path(f"/etc/{name}.env").write_text(env)
    host.path(f"/etc/{name}.env").chmod(0o600)
    host.run(
        f"/srv/{name}/site.pyz", "systemd-unit", "--name", name, "--bind", f"127.0.0.1:{port}",
        "--env-file", f"/etc/{name}.env", "--directory", "/etc/systemd/system", *unit_options,
    )  # fmt: skip
    host.systemctl("daemon-reload")


def beside(host: Host, name: str, *command: str, archive: str = "site.pyz") -> str:
    """A command of the archive run beside the service, the documented way."""
    return host.run(f"/srv/{name}/{archive}", "systemd-run", "--unit", name, *command).stdout


def owners(host: Host, name: str) -> dict[str, tuple[int, int]]:
    """Who owns each file of the service's cache and state directories."""
    found = {}
    for top in (f"/var/cache/private/{name}", f"/var/lib/private/{name}"):
        for path in [host.path(top), *host.path(top).rglob("*")]:
            stat = path.lstat()
            found[str(path.relative_to(host.root))] = (stat.st_uid, stat.st_gid)
    return found


def assert_owners_kept(
    before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]
) -> None:
    """No file changed owner, and the files that came since belong to the same user."""
    changed = {
        path: (owner, after[path])
        for path, owner in before.items()
        if after.get(path, owner) != owner
    }
    assert not changed, f"{len(changed)} files changed owner, such as {sorted(changed.items())[:5]}"
    assert set(after.values()) == set(before.values()), (set(before.values()), set(after.values()))


def deploy(host: Host, name: str, archive: Path) -> None:
    """docs/howto/upgrade.rst: ship next to the old one, migrate with it, switch, reload."""
    host.copy_in(archive, f"/srv/{name}/site.pyz.new", mode=0o755)
    beside(host, name, "migrate", "--noinput", archive="site.pyz.new")
    host.run("ln", "-f", f"/srv/{name}/site.pyz", f"/srv/{name}/site.pyz.previous")
    host.run("mv", f"/srv/{name}/site.pyz.new", f"/srv/{name}/site.pyz")
    host.systemctl("reload", name)


def exposure(host: Host, unit: str) -> float:
    output = host.run("systemd-analyze", "security", "--no-pager", unit).stdout
    match = re.search(rf"Overall exposure level for {re.escape(unit)}: ([0-9.]+)", output)
    assert match, output
    print(match[0])
    return float(match[1])


def test_the_service_under_real_systemd(machine: Host, builds: Builds) -> None:
    port = free_port()
    install(machine, builds.archives[0], "site", port)
    beside(machine, "site", "migrate", "--noinput")
    machine.systemctl("start", "site")  # Type=notify: returns once serve said READY=1
    base = f"http://127.0.0.1:{port}"
    status, _, body = get(base + "/")
    assert (status, b"Notes v1" in body) == (200, True)
    show = machine.systemctl("show", "site", "-p", "MainPID,Type,NRestarts").stdout
    assert "Type=notify" in show
    main_pid = int(re.search(r"MainPID=(\d+)", show)[1])  # type: ignore[index]
    uid = int(machine.run("ps", "-o", "uid=", "-p", str(main_pid)).stdout)
    assert 61184 <= uid <= 65519, uid  # systemd's range of dynamic users
    assert list(machine.path("/var/cache/private/site").glob("site.pyz_*"))
    assert machine.path("/var/lib/private/site/db.sqlite3").is_file()

    # The line it runs names the service's own user and leaves what is the service's
    # alone: no RuntimeDirectory= (removed when the command ends), no ExecStart=.
    line = machine.run("/srv/site/site.pyz", "systemd-run", "--print", "migrate").stdout
    assert "--property=User=site" in line
    assert "RuntimeDirectory" not in line and "ExecStart" not in line
    assert re.search(r" -- /usr/bin/python3[.0-9]* /srv/site/site.pyz migrate$", line), line
    before = owners(machine, "site")
    with continuous_requests(base + "/") as traffic:
        beside(machine, "site", "migrate", "--noinput")
        beside(machine, "site", "createsuperuser", "--noinput", "--username", "admin",
               "--email", "admin@example.com")  # fmt: skip
        beside(machine, "site", "addnote", "written beside the service")
        traffic.wait_for(b"written beside the service")
    print(
        f"commands beside the service: {traffic.answered} requests, {len(traffic.failures)} failed"
    )
    assert traffic.failures == [] and traffic.answered > 0
    assert_owners_kept(before, owners(machine, "site"))

    with continuous_requests(base + "/") as traffic:
        for version, archive in ((2, builds.archives[1]), (3, builds.archives[2])):
            deploy(machine, "site", archive)
            traffic.wait_for(f"Notes v{version}".encode())
    print(f"two upgrades with reload: {traffic.answered} requests, {len(traffic.failures)} failed")
    assert traffic.failures == [] and traffic.answered > 0
    assert b"written beside the service" in traffic.last_body
    extractions = sorted(p.name for p in machine.path("/var/cache/private/site").glob("site.pyz_*"))
    assert len(extractions) == 2, extractions  # KEEP_BUILDS=2 after three deploys

    with pytest.raises(urllib.error.HTTPError) as error:
        get(base + "/boom/")
    error.value.close()
    assert error.value.code == 500
    assert "boom: a request error for the journal" in machine.journal("site")
    assert "NRestarts=0" in machine.systemctl("show", "site", "-p", "NRestarts").stdout
    assert exposure(machine, "site.service") <= 1.5


def test_a_configuration_error_is_not_restarted_in_a_loop(machine: Host, builds: Builds) -> None:
    install(machine, builds.archives[0], "broken", free_port())
    machine.path("/etc/broken.env").write_text("KEEP_BUILDS=2\n")  # no SECRET_KEY
    assert machine.systemctl("start", "broken", check=False).returncode != 0
    machine.run("sleep", "2")  # Restart= would have started it again by now (RestartSec=100ms)
    show = machine.systemctl("show", "broken", "-p", "NRestarts,ExecMainStatus,ActiveState")
    assert show.stdout.split() == ["NRestarts=0", "ExecMainStatus=78", "ActiveState=failed"]
    assert "SECRET_KEY" in machine.journal("broken")


def test_the_socket_activated_unit_without_network(machine: Host, builds: Builds) -> None:
    port = free_port()
    install(machine, builds.archives[0], "sock", port, "--socket", "--no-network")
    beside(machine, "sock", "migrate", "--noinput")
    machine.systemctl("start", "sock.socket")
    base = f"http://127.0.0.1:{port}"
    status, _, _ = get(base + "/")  # the first request starts the service
    assert status == 200
    assert machine.systemctl("is-active", "sock.service").stdout.strip() == "active"
    assert "PrivateNetwork=yes" in machine.systemctl("show", "sock", "-p", "PrivateNetwork").stdout
    before = owners(machine, "sock")
    with continuous_requests(base + "/") as traffic:
        beside(machine, "sock", "addnote", "through the socket")
        traffic.wait_for(b"through the socket")
        machine.systemctl("restart", "sock.service")
        traffic.wait_for(b"through the socket")
    print(f"socket-activated, restart: {traffic.answered} requests, {len(traffic.failures)} failed")
    assert traffic.failures == [] and traffic.answered > 0
    assert_owners_kept(before, owners(machine, "sock"))
    assert exposure(machine, "sock.service") <= 0.5
