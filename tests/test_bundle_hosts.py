"""The file with its own CPython on booted Debian hosts that have no Python at all."""

from __future__ import annotations

import re
import time
import urllib.error

import pytest

from tests.archives import SECRET_KEY, Built, build_in, copy_example, free_port, get
from tests.hosts import BootHosts, Host

pytestmark = [pytest.mark.e2e, pytest.mark.hosts]

SITE = "/srv/site/site"
NO_PYTHON = (
    "for p in python python3 python3.9 python3.11 python3.12 python3.13; do "
    'command -v "$p" && exit 1; done; '
    "! ls -d /usr/bin/python* /usr/local/bin/python* /usr/lib/python3* 2>/dev/null"
)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Built:
    work = tmp_path_factory.mktemp("bundle-hosts")
    project = copy_example(work / "project")
    (work / "build").mkdir()
    result = build_in(project, "-o", str(work / "build" / "site"), "--bundle-python")
    assert result.returncode == 0, result.stdout + result.stderr
    return Built(work / "build" / "site", result.stdout, work)


def site(host: Host, *args: str, check: bool = True) -> str:
    environment = ["env", f"SECRET_KEY={SECRET_KEY}", "STATE_DIRECTORY=/var/lib/site"]
    return host.run(*environment, SITE, *args, check=check).stdout


def wait_for_home(base: str, timeout: float = 180) -> bytes:
    deadline = time.monotonic() + timeout
    while True:
        try:
            status, _, body = get(base + "/")
            assert status == 200
            return body
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def check_site(base: str) -> None:
    body = wait_for_home(base)
    css = re.search(rb'href="(/static/[^"]+\.css)"', body)
    assert css is not None
    assert get(base + css[1].decode())[0] == 200


def test_the_build_says_what_it_bundled(bundle: Built) -> None:
    assert re.search(r"Bundling CPython 3\.\d+\.\d+ from /\S+ \(\d+\.\d MB packed; needs Linux "
                     r"\S+ with glibc 2\.\d+ or newer\)", bundle.build_output)  # fmt: skip


def test_runs_on_a_host_without_python(boot_hosts: BootHosts, bundle: Built) -> None:
    host = boot_hosts(1, python=False)[0]
    assert host.run("sh", "-c", NO_PYTHON).returncode == 0
    host.copy_in(bundle.archive, SITE, mode=0o755)
    host.run("mkdir", "-p", "/var/lib/site")

    assert "Applying notes.0001_initial... OK" in site(host, "migrate", "--noinput")
    info = site(host, "info")
    assert re.search(r"^interpreter    CPython 3\.\d+\.\d+ bundled", info, re.M), info
    assert "settings       example.settings" in info

    port = free_port()
    serve = f"{SITE} serve --bind 127.0.0.1:{port} >/tmp/serve.log 2>&1 & echo $! >/tmp/serve.pid"
    host.run("env", f"SECRET_KEY={SECRET_KEY}", "STATE_DIRECTORY=/var/lib/site", "sh", "-c", serve)
    try:
        check_site(f"http://127.0.0.1:{port}")
    finally:
        host.run("sh", "-c", "kill $(cat /tmp/serve.pid)", check=False)

    # The same under the unit the file generates: ExecStart= runs the file itself.
    port = free_port()
    host.run("sh", "-c", f"echo SECRET_KEY={SECRET_KEY} >/etc/site.env")
    site(host, "systemd-unit", "--directory", "/etc/systemd/system", "--bind",
         f"127.0.0.1:{port}", "--env-file", "/etc/site.env")  # fmt: skip
    unit = host.path("/etc/systemd/system/site.service").read_text()
    assert f"ExecStart={SITE} serve --bind 127.0.0.1:{port}\n" in unit
    dropin = host.path("/etc/systemd/system/site.service.d/migrate.conf")
    dropin.parent.mkdir(parents=True)
    dropin.write_text(f"[Service]\nExecStartPre={SITE} migrate --noinput\n")
    host.systemctl("daemon-reload")
    started = host.systemctl("start", "site.service", check=False)
    assert started.returncode == 0, host.journal("site.service")
    check_site(f"http://127.0.0.1:{port}")
    # A command beside the service, in its sandbox: systemctl and systemd-run, which the
    # file starts, load the host's libraries, not the bundled ones.
    ran = host.run(SITE, "systemd-run", "migrate", "--noinput", check=False)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "No migrations to apply." in ran.stdout, ran.stdout
    # Unpacked into the service's own CacheDirectory=, beside the archive's extraction.
    cache = host.run("ls", "-A", "/var/cache/private/site").stdout.split()
    assert any(name.startswith("site_") and name.endswith(".python") for name in cache), cache
    host.systemctl("stop", "site.service")


def test_an_older_glibc_is_refused_in_one_line(boot_hosts: BootHosts, bundle: Built) -> None:
    host = boot_hosts(1, release="bullseye", python=False)[0]
    assert host.run("sh", "-c", NO_PYTHON).returncode == 0
    assert host.run("getconf", "GNU_LIBC_VERSION").stdout == "glibc 2.31\n"
    host.copy_in(bundle.archive, SITE, mode=0o755)
    result = host.run(SITE, "info", check=False)
    assert (result.returncode, result.stdout) == (1, "")
    assert re.fullmatch(
        r"error: site needs glibc 2\.(3[2-9]|[4-9]\d) or newer, but this host has glibc "
        r"2\.31; rebuild it on an older system or with a python-build-standalone "
        r"interpreter\.\n",
        result.stderr,
    ), result.stderr
    assert not host.path("/root/.cache/django-zipapp").exists()
