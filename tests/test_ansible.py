"""The Ansible collection's rollouts, against three booted Debian hosts with real systemd.

Each host runs the example site under the unit its archive writes, on a loopback port of
its own, with a SQLite database of its own. The tests run in order on the same hosts:
a first deploy, a rollout under continuous requests, a second run, a failing build, a
rollback. The example declares a scheduled job (its timer); the build rolled out adds a
worker, which the rollback removes. Needs ansible-core (tox's py environment installs it).

Rollouts are the module's time, so a test reuses what the one before it did rather than
doing it again. Each one still runs alone (`-k`) from the fleet's first deploy, except
for what it proves together with its neighbour:

- the second run repeats the rollout of the test before it (alone, it makes that one
  first); check mode is the signature test's first run, of the build no host serves;
- a host lost before the switch stops two rollouts, and the unreachable host's test
  after it stops the same rollout a third time and then completes it: that complete run
  is what shows the next run completes after those power cuts too (alone, the test of
  the lost host ends with every host on its checked build, the rollout not completed);
- the bundled builds go to web1 alone (`--limit`); the test of a refused build, last,
  rolls out a build no host serves, whichever that is.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from django_zipapp.builder.signing import load_signing_key, sign_file
from tests.archives import (
    SECRET_KEY,
    Built,
    build_in,
    bundle_interpreter,
    bundle_of,
    copy_example,
    free_port,
)
from tests.hosts import Host, booted
from tests.signing import key_id, make_signing_key, public_key

pytestmark = [pytest.mark.e2e]

REPO = Path(__file__).resolve().parent.parent
COLLECTIONS = REPO / "ansible" / "collections"
# The Debian release whose python3 is the one the archives are built with.
RELEASES = {(3, 11): "bookworm", (3, 13): "trixie"}
MIGRATE_ONCE = "Migrate the database with the new build, once for the rollout"
WORKER = "site-waiter.service"
# A secret with each character systemd's environment files quote or expand.
QUOTED = "a$b\\c\"d e'f%g"
TIMER = "site-clearsessions.timer"
# A worker that takes no task: it waits until systemd stops it.
WAITER = """\
import signal
import threading

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Wait until SIGTERM."

    def handle(self, *args: object, **options: object) -> None:
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        while not stop.wait(3600):
            pass
"""


@dataclass
class Fleet:
    hosts: list[Host]
    ports: list[int]
    inventory: Path
    work: Path

    @property
    def names(self) -> list[str]:
        return [f"web{index}" for index in range(1, len(self.hosts) + 1)]

    def _environment(self) -> dict[str, str]:
        return {
            **os.environ,
            "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS),
            "ANSIBLE_HOST_KEY_CHECKING": "False",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_PIPELINING": "True",
            "ANSIBLE_LOCAL_TEMP": str(self.work / "ansible-tmp"),
            # One connection per host, named by its port (every host is root@127.0.0.1):
            # ssh's %C, 40 characters, would take a socket path in a deep temporary
            # folder past the 107 bytes a Unix socket's name may have.
            "ANSIBLE_SSH_ARGS": "-o UserKnownHostsFile=/dev/null -o ControlMaster=auto "
            f"-o ControlPersist=60s -o ControlPath={self.work}/ssh-%p",
        }

    def playbook(self, name: str, *options: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self._argv(name, *options),
            capture_output=True,
            text=True,
            timeout=900,
            env=self._environment(),
            cwd=self.work,
        )

    def cut_power_at(self, host: Host, task: str, *options: str) -> str:
        """Roll out, and cut the host's power as the task starts; the playbook's output."""
        return self.during(task, lambda: f"power cut, {host.name} boots: {host.power_cycle()}",
                           *options)  # fmt: skip

    def during(
        self, task: str, action: Callable[[], str], *options: str, occurrence: int = 1
    ) -> str:
        """Roll out, and run action as the task starts for the occurrence-th time (a task
        of the play with serial starts once per host); the playbook's output."""
        output = []
        with subprocess.Popen(
            self._argv("rollout", *options),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**self._environment(), "PYTHONUNBUFFERED": "1"},
            cwd=self.work,
        ) as rollout:
            assert rollout.stdout is not None
            for line in rollout.stdout:
                output.append(line)
                if line.startswith("TASK [") and f" : {task}]" in line:
                    occurrence -= 1
                    if occurrence == 0:
                        output.append(f"-- {action()}\n")
            rollout.wait(timeout=900)
        text = "".join(output)
        assert "\n-- " in text, text
        return text

    def _argv(self, name: str, *options: str) -> list[str]:
        playbook = shutil.which("ansible-playbook", path=str(Path(sys.executable).parent))
        assert playbook is not None
        return [playbook, "-i", str(self.inventory), f"django_zipapp.deploy.{name}", *options]

    def rollout(self, archive: Path, *options: str) -> subprocess.CompletedProcess[str]:
        return self.playbook("rollout", "-e", f"zipapp_archive={archive}", *options)

    def serving(self) -> list[str]:
        """The release each host's link points to."""
        return [os.readlink(host.path("/srv/site/site.pyz")).split("/")[-2] for host in self.hosts]

    def homes(self) -> list[tuple[int, str]]:
        return [home(port) for port in self.ports]


def home(port: int) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read().decode()


def release(archive: Path) -> str:
    return hashlib.sha256(archive.read_bytes()).hexdigest()[:16]


def recap(output: str) -> dict[str, dict[str, int]]:
    """PLAY RECAP's counts per host."""
    counts = {}
    for name, fields in re.findall(r"^(\S+)\s+: (ok=.*)$", output, re.MULTILINE):
        counts[name] = {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", fields)}
    return counts


def summaries(output: str) -> list[str]:
    """The messages of the rollout's last play that say why it stopped, as printed."""
    printed = re.findall(r'"msg": "((?:[^"\\]|\\.)*)"', output)
    messages = [json.loads(f'"{text}"') for text in printed]
    return [text for text in messages if text.startswith(("Rollout stopped", "Rollout ended"))]


def ran_on(output: str, task: str) -> list[str]:
    """The hosts a task ran on (not skipped), from ansible-playbook's output."""
    # A task of a play with serial appears once per batch.
    sections = [part.split("\nTASK [")[0] for part in output.split(f": {task}] ")[1:]]
    return re.findall(r"^(?:ok|changed): \[(\w+)\]", "\n".join(sections), re.MULTILINE)


@dataclass
class Builds:
    """The module's builds, under way in the background (see `builds`)."""

    rebuilt: Future[Built]
    broken: Future[Built]
    crashing: Future[Built]
    bundles: Future[tuple[Built, Built]]


@pytest.fixture(scope="module")
def builds(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Builds]:
    """Every build the module rolls out, started before the fleet's first deploy: they
    take one core while that deploy mostly waits on ssh and on its hosts, instead of
    each one holding up the first test that needs it. One at a time, in the order the
    tests need them; the session's `built` is done first, so they share its dependency
    cache."""
    require_ansible()
    names = ("rebuilt-worker", "broken", "crashing-worker", "bundles")
    folders = {name: tmp_path_factory.mktemp(name) for name in names}
    pool = ThreadPoolExecutor(1)
    try:
        rebuilt = pool.submit(build_with_worker, folders["rebuilt-worker"], "wait_for_sigterm")
        yield Builds(
            rebuilt,
            pool.submit(build_broken, folders["broken"]),
            pool.submit(
                build_with_worker, folders["crashing-worker"], "wait_for_sigterm --no-such-option"
            ),
            pool.submit(lambda: bundle_both(built, rebuilt.result(), folders["bundles"])),
        )
    finally:
        pool.shutdown(cancel_futures=True)


@pytest.fixture(scope="module")
def rebuilt(builds: Builds) -> Built:
    """A second build of example_project, whose home page says so, with a worker."""
    return builds.rebuilt.result()


@pytest.fixture(scope="module")
def crashing(builds: Builds) -> Built:
    """A build whose site is fine and whose worker exits as it starts (a bad option)."""
    return builds.crashing.result()


def build_with_worker(work: Path, command: str) -> Built:
    project = copy_example(work / "project")
    template = project / "notes" / "templates" / "notes" / "home.html"
    template.write_text(template.read_text().replace("<h1>Notes</h1>", "<h1>Notes, rebuilt</h1>"))
    commands = project / "notes" / "management" / "commands"
    commands.mkdir(parents=True)
    for package in (commands.parent, commands):
        (package / "__init__.py").write_text("")
    (commands / "wait_for_sigterm.py").write_text(WAITER)
    with (project / "example" / "settings.py").open("a") as settings:
        settings.write(f"\nZIPAPP_WORKERS = {{'waiter': {{'command': {command!r}}}}}\n")
    result = build_in(project, "-o", str(work / "site.pyz"))
    assert result.returncode == 0, result.stdout + result.stderr
    return Built(work / "site.pyz", result.stdout, work)


def failed_site_units(host: Host) -> list[str]:
    failed = host.systemctl("list-units", "--all", "--failed", "--plain", "--no-legend").stdout
    return [line for line in failed.splitlines() if "site" in line]


def unit_states(host: Host, *units: str) -> list[tuple[str, str]]:
    """(is-active, is-enabled) of each unit on the host."""
    active = host.systemctl("is-active", *units, check=False).stdout.split()
    enabled = host.systemctl("is-enabled", *units, check=False).stdout.split()
    return list(zip(active, enabled, strict=True))


@pytest.fixture(scope="module")
def broken(builds: Builds) -> Built:
    """A build whose home page fails: a template naming a URL that does not exist."""
    return builds.broken.result()


def build_broken(work: Path) -> Built:
    project = copy_example(work / "project")
    template = project / "notes" / "templates" / "notes" / "home.html"
    template.write_text(template.read_text().replace("<h1>Notes</h1>", "{% url 'no-such-page' %}"))
    result = build_in(project, "-o", str(work / "site.pyz"))
    assert result.returncode == 0, result.stdout + result.stderr
    return Built(work / "site.pyz", result.stdout, work)


def require_ansible() -> str:
    """The Debian release for the fleet; skips the test where the rollouts cannot run."""
    if shutil.which("ansible-playbook", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("ansible-core is not installed (tox's py environment installs it)")
    debian = RELEASES.get(sys.version_info[:2])
    if debian is None:
        pytest.skip(f"no Debian release here has Python {sys.version[:4].rstrip('.')}")
    return debian


@pytest.fixture(scope="module")
def fleet(
    hosts_key: Path, built: Built, builds: Builds, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Fleet]:
    """Three hosts, the example site deployed on each (its first build, v1)."""
    debian = require_ansible()
    work = tmp_path_factory.mktemp("fleet")
    (work / "ansible-tmp").mkdir()
    with booted(3, hosts_key, release=debian, prefix="web") as hosts:
        ports = [free_port() for _ in hosts]
        inventory = {
            f"web{index}": {
                "ansible_host": "127.0.0.1",
                "ansible_port": host.ssh_port,
                "ansible_user": "root",
                "ansible_ssh_private_key_file": str(hosts_key),
                "ansible_python_interpreter": "/usr/bin/python3",
                "zipapp_bind": f"127.0.0.1:{port}",
            }
            for index, (host, port) in enumerate(zip(hosts, ports, strict=True), start=1)
        }
        site = {
            # Secrets in the environment file, the rest in the configuration file.
            "zipapp_environment": {"SECRET_KEY": SECRET_KEY, "SITE_QUOTED": QUOTED},
            "zipapp_config": {"ALLOWED_HOSTS": ["127.0.0.1", "localhost"]},
            # Each host that switches to a build with a worker waits this long for it to
            # fail: the role's default (5 s) over about twenty such switches was the
            # module's longest fixed wait. The workers here either run or exit at once;
            # the test of one that exits keeps the default (see there).
            "zipapp_settle_time": 1,
        }
        (work / "inventory.json").write_text(
            json.dumps({"all": {"hosts": inventory, "vars": site}})
        )
        deployed = Fleet(hosts, ports, work / "inventory.json", work)
        # Each host keeps its own SQLite database: each migrates it on the first deploy.
        first = deployed.rollout(built.archive, "-e", "zipapp_migrate=every_host")
        assert first.returncode == 0, first.stdout + first.stderr
        assert deployed.serving() == [release(built.archive)] * 3
        yield deployed


@dataclass
class Requests:
    """Requests to every site, one after the other per site, until stopped."""

    ports: list[int]
    answered: dict[int, int] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> Requests:
        self._threads = [threading.Thread(target=self._send, args=(port,)) for port in self.ports]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def _send(self, port: int) -> None:
        self.answered[port] = 0
        while not self._stop.is_set():
            try:
                status, _ = home(port)
            except OSError as exc:
                self.failed.append(f"{port}: {exc}")
                continue
            if status == 200:
                self.answered[port] += 1
            else:
                self.failed.append(f"{port}: HTTP {status}")
            # Continuous, but leaving the machine's cores to the rollout itself.
            self._stop.wait(0.02)


def test_a_rollout_under_continuous_requests_fails_none(fleet: Fleet, rebuilt: Built) -> None:
    with Requests(fleet.ports) as requests:
        result = fleet.rollout(rebuilt.archive)
    assert result.returncode == 0, result.stdout + result.stderr
    print(f"requests answered during the rollout: {requests.answered}, failed: {requests.failed}")
    assert requests.failed == []
    assert all(count > 0 for count in requests.answered.values()), requests.answered
    assert fleet.serving() == [release(rebuilt.archive)] * 3
    assert [(status, "Notes, rebuilt" in page) for status, page in fleet.homes()] == [
        (200, True)
    ] * 3
    # Migrations once, on the first host, before the play that switches.
    assert ran_on(result.stdout, MIGRATE_ONCE) == ["web1"]
    assert result.stdout.index("Migrate the database") < result.stdout.index("Switch the link")
    # The worker the new build declares runs on every host, and the job's timer is on.
    assert ran_on(result.stdout, "Restart the workers onto the build") == fleet.names
    for host in fleet.hosts:
        assert unit_states(host, WORKER, TIMER) == [("active", "enabled")] * 2
        # A secret reaches the service as given, whatever characters it holds.
        assert environment_of(host, "site.service")["SITE_QUOTED"] == QUOTED


def environment_of(host: Host, unit: str) -> dict[str, str]:
    """The environment the unit's main process runs with, as systemd gave it."""
    pid = host.systemctl("show", "--property=MainPID", "--value", unit).stdout.strip()
    raw = host.run("cat", f"/proc/{pid}/environ").stdout
    return dict(entry.partition("=")[::2] for entry in raw.split("\0") if entry)


def test_a_second_run_changes_nothing(fleet: Fleet, rebuilt: Built) -> None:
    # The rollout it repeats is the test's above (alone, this test makes it first).
    if fleet.serving() != [release(rebuilt.archive)] * 3:
        first = fleet.rollout(rebuilt.archive)
        assert first.returncode == 0, first.stdout + first.stderr
    again = fleet.rollout(rebuilt.archive)
    assert again.returncode == 0, again.stdout + again.stderr
    assert {name: counts["changed"] for name, counts in recap(again.stdout).items()} == {
        name: 0 for name in fleet.names
    }, again.stdout
    # The new configuration and secrets, checked, left nothing beside those in service.
    for host in fleet.hosts:
        assert host.path("/etc/site/config.yaml").is_file()
        assert sorted(host.path("/etc/site").glob("*.next")) == []
    # (Check mode, which changes nothing either, is the signature test's first run.)


def test_a_failing_build_stops_at_the_first_host_and_puts_it_back(
    fleet: Fleet, rebuilt: Built, broken: Built
) -> None:
    result = fleet.rollout(broken.archive)
    assert result.returncode != 0
    url = f"http://127.0.0.1:{fleet.ports[0]}/"
    message = (
        f"Rollout stopped at web1: build {release(broken.archive)} answered {url} with HTTP 500 "
        f"instead of 200. web1 is back on build {release(rebuilt.archive)}, which answers "
        f"{url} with 200 again; the hosts after it were not switched and still serve their "
        "build. See `journalctl -u site` on web1 for the cause."
    )
    assert message in result.stdout, result.stdout
    # One message for the fleet: the cause, then which build each host serves.
    serves = release(rebuilt.archive)
    fleet_state = "; ".join(
        f"{name} serves build {serves} and answers with 200" for name in fleet.names
    )
    assert f"{message} Fleet: {fleet_state}." in result.stdout, result.stdout
    assert re.findall(r"Rollout stopped at (\w+)", result.stdout) in (["web1"], ["web1"] * 2)
    assert ran_on(result.stdout, "Switch the link to the build") == ["web1"]
    assert fleet.serving() == [release(rebuilt.archive)] * 3
    assert [(status, "Notes, rebuilt" in page) for status, page in fleet.homes()] == [
        (200, True)
    ] * 3
    # The 500 was a real one, logged by the new build before web1 went back.
    assert "NoReverseMatch" in fleet.hosts[0].journal("site.service")
    # The broken build declares no worker: web1 got its worker back with its build.
    for host in fleet.hosts:
        assert unit_states(host, WORKER, TIMER) == [("active", "enabled")] * 2


def test_an_archive_whose_signature_does_not_verify_changes_nothing(
    fleet: Fleet, built: Built, rebuilt: Built, tmp_path: Path
) -> None:
    """A changed byte, another key, no signature: refused on the controller, in one line."""
    serving = fleet.serving()
    # A build that no host serves (the first one, after the tests above).
    archive = next(b.archive for b in (built, rebuilt) if release(b.archive) not in serving)
    key = make_signing_key(tmp_path, password=None)
    signed = tmp_path / "site.pyz"
    shutil.copy(archive, signed)
    sign_file(signed, load_signing_key(key, prompt=False))
    trusted = f"zipapp_public_key={public_key(key)}"
    # The signed archive passes the check, in check mode: it says what the rollout would
    # change on every host, and changes nothing.
    releases = releases_on(fleet)
    check = fleet.rollout(signed, "-e", trusted, "--check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert ran_on(check.stdout, "Switch the link to the build") == fleet.names
    assert all(counts["changed"] > 0 for counts in recap(check.stdout).values())
    assert fleet.serving() == serving
    assert releases_on(fleet) == releases
    tampered = tmp_path / "tampered" / "site.pyz"
    tampered.parent.mkdir()
    data = bytearray(signed.read_bytes())
    data[len(data) // 2] ^= 0x01
    tampered.write_bytes(bytes(data))
    shutil.copy(signed.with_name("site.pyz.minisig"), tampered.parent)
    other = public_key(make_signing_key(tmp_path / "tampered", password=None))
    unsigned = tmp_path / "unsigned" / "site.pyz"
    unsigned.parent.mkdir()
    shutil.copy(built.archive, unsigned)
    cases = {
        "a changed byte": (tampered, trusted, "Signature verification failed"),
        "another key": (
            signed,
            f"zipapp_public_key={other}",
            f"is {key_id(public_key(key))} but the key id in the public key is {key_id(other)}",
        ),
        "no signature": (unsigned, trusted, ""),
    }
    with Requests(fleet.ports) as requests:
        results = {
            case: fleet.rollout(archive, "-e", key) for case, (archive, key, _) in cases.items()
        }
    print(f"requests during the refused rollouts: {requests.answered}, failed {requests.failed}")
    for case, result in results.items():
        # One message, the rollout's last: the refusal, then the state of the fleet.
        stopped = summaries(result.stdout)
        print(f"{case}: {stopped}")
        assert result.returncode != 0, case
        assert len(stopped) == 1, result.stdout
        refusal, _, fleet_state = stopped[0].partition(" Fleet: ")
        assert refusal.startswith("Rollout stopped before any host switched: refused site.pyz: "), (
            refusal
        )
        assert cases[case][2] in refusal
        assert refusal.endswith(
            "; nothing was changed on any host. Sign it with `buildpyz --sign`, or give the "
            "public key of the key that signed it."
        ), refusal
        assert fleet_state.startswith("web1 serves build "), fleet_state
        assert ran_on(result.stdout, "Upload the archive") == []
    assert requests.failed == []
    assert all(count > 0 for count in requests.answered.values()), requests.answered
    assert releases_on(fleet) == releases
    assert fleet.serving() == serving
    assert [(status, "Notes, rebuilt" in page) for status, page in fleet.homes()] == [
        (200, build == release(rebuilt.archive)) for build in serving
    ]


def releases_on(fleet: Fleet) -> list[list[str]]:
    folders = [host.path("/srv/site/releases") for host in fleet.hosts]
    return [sorted(path.name for path in folder.iterdir()) for folder in folders]


def test_a_rollback_puts_every_host_on_the_previous_build(
    fleet: Fleet, built: Built, rebuilt: Built
) -> None:
    result = fleet.playbook("rollback")
    assert result.returncode == 0, result.stdout + result.stderr
    assert fleet.serving() == [release(built.archive)] * 3
    assert [(status, "Notes, rebuilt" in page) for status, page in fleet.homes()] == [
        (200, False)
    ] * 3
    # The build rolled back from is now the previous one: a second rollback undoes it.
    previous = [os.readlink(host.path("/srv/site/previous.pyz")) for host in fleet.hosts]
    assert [path.split("/")[-2] for path in previous] == [release(rebuilt.archive)] * 3
    # The previous build declares no worker: its unit is stopped and gone.
    for host in fleet.hosts:
        assert unit_states(host, TIMER) == [("active", "enabled")]
        assert host.systemctl("is-active", WORKER, check=False).stdout.split() == ["inactive"]
        assert not host.path(f"/etc/systemd/system/{WORKER}").exists()


def test_a_worker_that_exits_at_start_stops_the_rollout_at_the_first_host(
    fleet: Fleet, built: Built, crashing: Built
) -> None:
    # The role's default settle time, as a fleet without the inventory's shorter one
    # has it: long enough for a worker to fail at start on a loaded machine.
    with Requests(fleet.ports) as requests:
        result = fleet.rollout(crashing.archive, "-e", "zipapp_settle_time=5")
    print(f"requests answered during the rollout: {requests.answered}, failed: {requests.failed}")
    assert result.returncode != 0
    stopped = re.findall(r"Rollout stopped at web1: .*? Fleet: .*?200\.", result.stdout)
    print(stopped[0] if stopped else result.stdout)
    url = f"http://127.0.0.1:{fleet.ports[0]}/"
    assert stopped[0].startswith(
        f"Rollout stopped at web1: build {release(crashing.archive)} did not keep its units "
        f"running after 5 s ({WORKER} is "
    ), stopped
    assert (
        f"web1 is back on build {release(built.archive)}, which answers {url} with 200 again; "
        "the hosts after it were not switched and still serve their build. "
        "See `journalctl -u site` on web1 for the cause. Fleet: "
    ) in stopped[0], stopped
    assert stopped[0].endswith(
        "Fleet: "
        + "; ".join(
            f"{name} serves build {release(built.archive)} and answers with 200"
            for name in fleet.names
        )
        + "."
    ), stopped
    assert ran_on(result.stdout, "Switch the link to the build") == ["web1"]
    assert requests.failed == []
    assert fleet.serving() == [release(built.archive)] * 3
    assert [(status, "Notes, rebuilt" in page) for status, page in fleet.homes()] == [
        (200, False)
    ] * 3
    for host in fleet.hosts:
        # Exactly the units of the build it serves, none failed: nothing to clean by hand.
        assert unit_states(host, "site.service", TIMER) == [("active", "enabled")] * 2
        assert not host.path(f"/etc/systemd/system/{WORKER}").exists()
        assert failed_site_units(host) == []
    assert "unrecognized arguments: --no-such-option" in fleet.hosts[0].journal(WORKER)


# Each step of the switch at which web1 loses power: before the link, after it, after
# the reload (the health check of the build the link names).
POWER_CUTS = (
    "Remember the build it replaces, for a rollback",
    "Start, restart or reload the service",
    "Check the site's health",
)


def test_a_host_that_loses_power_during_its_switch_comes_back_on_a_checked_build(
    fleet: Fleet, built: Built, rebuilt: Built
) -> None:
    web1 = fleet.hosts[0]
    for task in POWER_CUTS:
        with Requests(fleet.ports[1:]) as requests:
            output = fleet.cut_power_at(
                web1, task, "-e", f"zipapp_archive={rebuilt.archive}", "--limit", "web1"
            )
        print(f"power cut at {task!r}: others answered {requests.answered}, "
              f"failed {requests.failed}")  # fmt: skip
        assert requests.failed == []
        # Whether web1 was down or back when the play reached it: one summary, naming it.
        stopped = summaries(output)
        print(f"power cut at {task!r}: {stopped}")
        assert len(stopped) == 1, output
        assert stopped[0].startswith(f"Rollout stopped at web1: build {release(rebuilt.archive)} ")
        assert re.search(r" Fleet: web1 (serves build \w+ and |cannot be reached\.$)", stopped[0])
        checked = os.readlink(web1.path("/srv/site/checked.pyz"))
        assert os.readlink(web1.path("/srv/site/site.pyz")) == checked
        assert checked.split("/")[-2] == release(built.archive), (task, output)
        assert home(fleet.ports[0])[0] == 200
        # The units of the build it serves: its timer, not the new build's worker.
        assert unit_states(web1, "site.service", TIMER) == [("active", "enabled")] * 2
        assert not web1.path(f"/etc/systemd/system/{WORKER}").exists()
        assert failed_site_units(web1) == []

    # The cuts touched web1 alone: the next run, and a rollback after it, complete there
    # (the other hosts' rollouts and rollbacks are the tests' above).
    again = fleet.rollout(rebuilt.archive, "--limit", "web1")
    assert again.returncode == 0, again.stdout + again.stderr
    assert fleet.serving() == [release(rebuilt.archive)] + [release(built.archive)] * 2
    assert unit_states(web1, WORKER, TIMER) == [("active", "enabled")] * 2

    back = fleet.playbook("rollback", "--limit", "web1")
    assert back.returncode == 0, back.stdout + back.stderr
    assert fleet.serving() == [release(built.archive)] * 3
    assert [status for status, _ in fleet.homes()] == [200] * 3
    assert not web1.path(f"/etc/systemd/system/{WORKER}").exists()


# Run with python3 in a host: the notes app's records in django_migrations, forgotten
# (printed) or put back (given), in the site's SQLite database.
MIGRATIONS = """\
import json, pathlib, sqlite3, sys
state = pathlib.Path("/var/lib/private/site")
path = next(p for p in sorted(state.rglob("*"))
            if p.is_file() and p.open("rb").read(15) == b"SQLite format 3")
db = sqlite3.connect(path)
if sys.argv[1] == "forget":
    print(json.dumps(db.execute("select app, name, applied from django_migrations "
                                "where app = 'notes'").fetchall()))
    db.execute("delete from django_migrations where app = 'notes'")
else:
    db.executemany("insert into django_migrations (app, name, applied) values (?, ?, ?)",
                   json.loads(sys.argv[2]))
db.commit()
"""


def fleet_line(fleet: Fleet, *states: str) -> str:
    return (
        "Fleet: "
        + "; ".join(f"{name} {state}" for name, state in zip(fleet.names, states, strict=True))
        + "."
    )


def serves(archive: Path) -> str:
    return f"serves build {release(archive)} and answers with 200"


def test_a_failing_migration_stops_the_rollout_with_the_fleets_summary(
    fleet: Fleet, built: Built, rebuilt: Built
) -> None:
    # Schema drift in the database the rollout migrates (web1's): the notes table is
    # there, the record of its migration is not, so migrate creates the table again.
    web1 = fleet.hosts[0]
    records = web1.run("python3", "-c", MIGRATIONS, "forget").stdout
    try:
        with Requests(fleet.ports) as requests:
            result = fleet.rollout(rebuilt.archive)
    finally:
        web1.run("python3", "-c", MIGRATIONS, "restore", records)
    print(f"requests answered during the rollout: {requests.answered}, failed: {requests.failed}")
    stopped = summaries(result.stdout)
    print(stopped)
    assert result.returncode != 0
    assert len(stopped) == 1, result.stdout
    assert re.fullmatch(
        rf"Rollout stopped before any host switched: the migrations of build "
        rf"{release(rebuilt.archive)} failed on web1 \([^\n]*table \"notes_note\" already "
        r"exists[^\n]*\)\. " + re.escape(fleet_line(fleet, *[serves(built.archive)] * 3)),
        stopped[0],
    ), stopped
    assert ran_on(result.stdout, "Switch the link to the build") == []
    assert requests.failed == []
    assert fleet.serving() == [release(built.archive)] * 3


# (host, the task as which it loses power) before the switch: web2 during the upload,
# web1 as it starts the migrations (it runs them for the fleet).
LOST_BEFORE_THE_SWITCH = (
    (1, "Upload the archive"),
    (0, "Migrate the database with the new build, once for the rollout"),
)


def test_a_host_lost_before_the_switch_stops_the_rollout_with_the_summary(
    fleet: Fleet, built: Built, rebuilt: Built
) -> None:
    # Both cuts stop the rollout before any host switches, so both aim at the same build:
    # the second run starts from what the first cut left (a host rebooted during its
    # upload). The next test stops the same rollout at a host that cannot be reached,
    # then completes it: one complete run after the three shows the next run completes.
    serving, target = built, rebuilt
    for index, task in LOST_BEFORE_THE_SWITCH:
        host, name = fleet.hosts[index], fleet.names[index]
        assert fleet.serving() == [release(serving.archive)] * 3
        others = [port for number, port in enumerate(fleet.ports) if number != index]
        with Requests(others) as requests:
            output = fleet.cut_power_at(host, task, "-e", f"zipapp_archive={target.archive}")
        print(f"power cut at {task!r}: others answered {requests.answered}, "
              f"failed {requests.failed}")  # fmt: skip
        stopped, new = summaries(output), release(target.archive)
        print(stopped)
        assert len(stopped) == 1, output
        # The cut lands as the task starts, or (the migrations being quick) just after it:
        # then the host is lost at the start of its switch.
        assert re.match(
            rf"Rollout stopped (before any host switched: (?:{name} (?:cannot be reached"
            rf"|restarted or could not be reached)|the migrations of build {new} failed on "
            rf"{name} \(the host that ran them could not be reached)"
            rf"|at {name}: build {new} was cut short)",
            stopped[0],
        ), stopped
        other = fleet.names[index - 1]
        assert f"{other} {serves(serving.archive)}" in stopped[0].split(" Fleet: ")[1], stopped
        assert requests.failed == []
        # Nothing switched: every host serves its checked build.
        assert fleet.serving() == [release(serving.archive)] * 3
        assert [status for status, _ in fleet.homes()] == [200] * 3
        assert failed_site_units(host) == []
    # That the next run completes is the next test's last rollout: the same one.


def test_a_host_that_cannot_be_reached_stops_the_rollout_before_anything_changes(
    fleet: Fleet, built: Built, rebuilt: Built
) -> None:
    web3 = fleet.hosts[2]
    web3.power_off()
    try:
        releases = releases_on(fleet)[:2]
        with Requests(fleet.ports[:2]) as requests:
            result = fleet.rollout(rebuilt.archive)
    finally:
        web3.power_on()
    print(f"requests answered during the rollout: {requests.answered}, failed: {requests.failed}")
    stopped = summaries(result.stdout)
    print(stopped)
    assert result.returncode != 0
    assert len(stopped) == 1, result.stdout
    assert re.fullmatch(
        r"Rollout stopped before any host switched: web3 cannot be reached \([^)]*ssh: "
        r"connect to host 127\.0\.0\.1 port \d+: Connection refused\); nothing was changed on "
        r"any host\. "
        + re.escape(
            fleet_line(fleet, serves(built.archive), serves(built.archive), "cannot be reached")
        ),
        stopped[0],
    ), stopped
    assert ran_on(result.stdout, "Upload the archive") == []
    assert requests.failed == []
    assert releases_on(fleet)[:2] == releases
    # Back on, it serves its build again; the same rollout then completes (after the power
    # cuts of the test above too, when it ran: that rollout stopped there twice).
    assert fleet.serving() == [release(built.archive)] * 3
    again = fleet.rollout(rebuilt.archive)
    assert again.returncode == 0, again.stdout + again.stderr
    assert fleet.serving() == [release(rebuilt.archive)] * 3
    assert [status for status, _ in fleet.homes()] == [200] * 3


def power_off(host: Host) -> str:
    host.power_off()
    return f"{host.name} powered off"


def test_a_host_that_goes_down_during_its_switch_stops_the_rollout_with_the_summary(
    fleet: Fleet, built: Built, rebuilt: Built
) -> None:
    web2 = fleet.hosts[1]
    try:
        with Requests([fleet.ports[0], fleet.ports[2]]) as requests:
            output = fleet.during(
                "Switch the link to the build",
                lambda: power_off(web2),
                "-e", f"zipapp_archive={built.archive}",
                occurrence=2,
            )  # fmt: skip
    finally:
        web2.power_on()
    print(f"requests answered during the rollout: {requests.answered}, failed: {requests.failed}")
    stopped = summaries(output)
    print(stopped)
    assert len(stopped) == 1, output
    assert re.fullmatch(
        rf"Rollout stopped at web2: build {release(built.archive)} was cut short: web2 cannot be "
        r"reached \([^)]*ssh: connect to host 127\.0\.0\.1 port \d+: Connection refused\); "
        r"when it boots, it goes back "
        rf"to its last checked build {release(rebuilt.archive)} by itself "
        r"\(zipapp-checked@site\.service\); the hosts after it were not switched and still "
        r"serve their build\. See `journalctl -u site` on web2 for the cause\. "
        + re.escape(
            fleet_line(fleet, serves(built.archive), "cannot be reached", serves(rebuilt.archive))
        ),
        stopped[0],
    ), stopped
    assert requests.failed == []
    # Booted again, web2 is on its last checked build, with that build's units.
    assert fleet.serving() == [release(archive.archive) for archive in (built, rebuilt, rebuilt)]
    assert home(fleet.ports[1])[0] == 200
    assert unit_states(fleet.hosts[1], WORKER, TIMER) == [("active", "enabled")] * 2
    assert failed_site_units(fleet.hosts[1]) == []
    again = fleet.rollout(built.archive)
    assert again.returncode == 0, again.stdout + again.stderr
    assert fleet.serving() == [release(built.archive)] * 3
    assert [status for status, _ in fleet.homes()] == [200] * 3


@pytest.fixture(scope="module")
def bundles(builds: Builds) -> tuple[Built, Built]:
    """The first build and the rebuilt one, each with the tests' Python bundled."""
    return builds.bundles.result()


def bundle_both(built: Built, rebuilt: Built, work: Path) -> tuple[Built, Built]:
    interpreter = bundle_interpreter(work / "staging")
    first = bundle_of(built, interpreter, work / "first")
    return first, bundle_of(rebuilt, interpreter, work / "second")


def main_pid(host: Host) -> str:
    return host.systemctl("show", "-P", "MainPID", "site.service").stdout.strip()


def site_units(host: Host) -> dict[str, str]:
    folder = host.path("/etc/systemd/system")
    return {path.name: path.read_text() for path in sorted(folder.glob("site*.*"))}


def test_a_bundled_build_rolled_onto_a_bundled_build_is_reloaded(
    fleet: Fleet, bundles: tuple[Built, Built]
) -> None:
    # On web1 alone: a reload is one host's business (the other hosts' switches are the
    # tests' above), and the other hosts keep answering meanwhile.
    first, second = bundles
    web1 = fleet.hosts[0]
    onto = fleet.rollout(first.archive, "--limit", "web1")
    assert onto.returncode == 0, onto.stdout + onto.stderr
    others = fleet.serving()[1:]
    before = site_units(web1)
    master = main_pid(web1)
    with Requests(fleet.ports) as requests:
        result = fleet.rollout(second.archive, "--limit", "web1")
    print(f"requests answered during the rollout: {requests.answered}, failed: {requests.failed}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert requests.failed == []
    assert all(count > 0 for count in requests.answered.values()), requests.answered
    assert ran_on(result.stdout, "Reload") == ["web1"]
    assert ran_on(result.stdout, "Restart the service (new units or configuration)") == []
    assert fleet.serving() == [release(second.archive), *others]
    status, page = home(fleet.ports[0])
    assert (status, "Notes, rebuilt" in page) == (200, True)
    # Every line of every unit starts the file by the link, never an interpreter: the
    # same from build to build, so the web unit did not change.
    after = site_units(web1)
    assert after["site.service"] == before["site.service"]
    commands = [
        line for text in after.values() for line in re.findall(r"^Exec\w+=(.*)$", text, re.M)
    ]
    assert {command.split()[0] for command in commands} == {"/srv/site/site.pyz", "/bin/kill"}
    assert "python" not in "".join(after.values())
    assert WORKER in after
    # The new master took over by a reload (USR2), started by the file's launcher.
    new = main_pid(web1)
    assert new != master
    command = web1.run("cat", f"/proc/{new}/cmdline").stdout.split("\0")
    assert command[1] == "-c" and "_django_zipapp_boot" in command[2], command
    assert command[3] == "/srv/site/site.pyz" and "serve" in command, command
    assert "Handling signal: usr2" in web1.journal("site.service")


def test_a_build_refused_on_one_host_stops_the_rollout_before_anything_is_used(
    fleet: Fleet, built: Built, rebuilt: Built
) -> None:
    """A configuration value the new build refuses on web2, then a prepare command that
    fails on web3: each stops the rollout before any host switches, with the fleet's
    summary, and web2 keeps the configuration its build in service starts with. The
    same rollout with both mended then completes."""
    serving = fleet.serving()
    # A build that no host serves yet (this test runs last, after the bundled builds
    # on web1).
    archive = next(b.archive for b in (built, rebuilt) if release(b.archive) not in serving)
    config = fleet.hosts[1].path("/etc/site/config.yaml")
    kept = config.read_bytes()
    inventory = json.loads(fleet.inventory.read_text())
    hosts = inventory["all"]["hosts"]
    hosts["web2"]["zipapp_config"] = {"ALLOWED_HOSTS": ["127.0.0.1"], "DEBUG": "perhaps"}
    bad_config = replace(fleet, inventory=fleet.work / "bad-config.json")
    bad_config.inventory.write_text(json.dumps(inventory))
    del hosts["web2"]["zipapp_config"]
    hosts["web3"]["zipapp_prepare_command"] = ["prepare", "--no-such-option"]
    bad_command = replace(fleet, inventory=fleet.work / "bad-command.json")
    bad_command.inventory.write_text(json.dumps(inventory))
    new = release(archive)
    with Requests(fleet.ports) as requests:
        refused = bad_config.rollout(archive)
        failed = bad_command.rollout(archive)
    print(f"requests answered during the rollouts: {requests.answered}, failed {requests.failed}")
    fleet_state = "; ".join(
        f"{name} serves build {build} and answers with 200"
        for name, build in zip(fleet.names, serving, strict=True)
    )
    for result, cause in (
        (
            refused,
            f"build {new} refused the new configuration of web2 (The configuration is invalid: "
            "DEBUG: Input should be a valid boolean, unable to interpret input); the hosts keep "
            "the configuration they run with, and no host was switched.",
        ),
        (
            failed,
            f"build {new} could not be prepared on web3 (",
        ),
    ):
        stopped = summaries(result.stdout)
        print(stopped)
        assert result.returncode != 0
        assert len(stopped) == 1, result.stdout
        assert stopped[0].startswith(f"Rollout stopped before any host switched: {cause}")
        assert stopped[0].endswith(f" Fleet: {fleet_state}."), stopped
        assert ran_on(result.stdout, "Switch the link to the build") == []
    assert "--no-such-option" in summaries(failed.stdout)[0]
    assert summaries(failed.stdout)[0].endswith(
        "); no host was switched, and the next run prepares it again. Fleet: " + fleet_state + "."
    )
    assert requests.failed == []
    assert all(count > 0 for count in requests.answered.values()), requests.answered
    assert fleet.serving() == serving
    assert config.read_bytes() == kept
    # The refused files, written beside those in service to be checked, are gone.
    assert sorted(fleet.hosts[1].path("/etc/site").glob("*.next")) == []
    # Mended, the same rollout completes: nothing to clean up by hand.
    again = fleet.rollout(archive)
    assert again.returncode == 0, again.stdout + again.stderr
    assert fleet.serving() == [new] * 3
    assert [status for status, _ in fleet.homes()] == [200] * 3
