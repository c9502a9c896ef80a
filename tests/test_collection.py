"""The Ansible collection as users get it: built by ansible-galaxy, installed, parsed.

Runs where ansible-core is installed (tox's ``ansible`` and ``py`` environments), with
no fixture of conftest.py: ``tox -e ansible`` runs it with ``--noconftest`` and without
the package installed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# The folder the documentation installs from (docs/howto/several-servers.rst).
SOURCE = Path("ansible/collections/ansible_collections/django_zipapp/deploy")
# What the collection's tarball may hold, and nothing else: no tests, caches, bytecode,
# configuration of the tools run in the collection's folder or earlier tarballs.
CONTENT = {"MANIFEST.json", "FILES.json", "README.md", "CHANGELOG.md", "meta", "playbooks", "roles"}
# Left in the source folder by ansible-lint, Python and earlier builds.
JUNK = [
    ".ansible/collections/ansible_collections/django_zipapp/deploy/README.md",
    "roles/zipapp/files/__pycache__/helper.cpython-313.pyc",
    "django_zipapp-deploy-0.0.1.tar.gz",
    "tests/output/junit.xml",
]
# Both names of the role, each with an entry point, as a playbook of the user's own.
OWN_PLAYBOOK = """\
- name: Prepare with the role's name
  hosts: all
  gather_facts: false
  tasks:
    - name: Prepare
      ansible.builtin.import_role:
        name: django_zipapp.deploy.zipapp
        tasks_from: prepare

- name: Switch with the role's first name
  hosts: all
  gather_facts: false
  tasks:
    - name: Switch
      ansible.builtin.import_role:
        name: django_zipapp.deploy.site
        tasks_from: switch
"""


def ansible(tool: str, *args: str, work: Path, collections: Path, cwd: Path | None = None) -> str:
    result = run_ansible(tool, *args, work=work, collections=collections, cwd=cwd)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def run_ansible(
    tool: str, *args: str, work: Path, collections: Path, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    executable = shutil.which(tool, path=str(Path(sys.executable).parent))
    if executable is None:
        pytest.skip("ansible-core is not installed (tox's ansible and py environments have it)")
    environment = {
        **os.environ,
        # Only the collection installed by the test, not the checkout's nor the user's.
        "ANSIBLE_COLLECTIONS_PATH": str(collections),
        "ANSIBLE_HOME": str(work / "ansible-home"),
        "ANSIBLE_LOCAL_TEMP": str(work / "ansible-tmp"),
        "ANSIBLE_NOCOLOR": "1",
    }
    return subprocess.run(
        [executable, *args], cwd=cwd or work, env=environment, capture_output=True, text=True
    )


def version() -> str:
    galaxy = (REPO / SOURCE / "galaxy.yml").read_text()
    found = re.search(r"^version: *(\S+)$", galaxy, re.MULTILINE)
    assert found, galaxy
    return found.group(1)


def build(source: Path, output: Path) -> Path:
    """Build as the documentation does: from the checkout's root, for the checkout's folder."""
    ansible(
        "ansible-galaxy",
        "collection",
        "build",
        "--output-path",
        str(output),
        f"./{source}" if not source.is_absolute() else str(source),
        work=output,
        collections=output / "none",
        cwd=REPO,
    )
    return output / f"django_zipapp-deploy-{version()}.tar.gz"


def test_the_tarball_holds_the_collection_and_no_junk(tmp_path: Path) -> None:
    source = tmp_path / "deploy"
    shutil.copytree(REPO / SOURCE, source, symlinks=True, ignore=shutil.ignore_patterns(".ansible"))
    for junk in JUNK:
        (source / junk).parent.mkdir(parents=True, exist_ok=True)
        (source / junk).write_text("junk\n")
    with tarfile.open(build(source, tmp_path)) as tarball:
        members = {member.name: member for member in tarball.getmembers()}
    assert {name.split("/")[0] for name in members} == CONTENT
    assert "roles/zipapp/tasks/switch.yml" in members
    # The role's first name, which leads to it.
    assert "roles/site/tasks/switch.yml" in members


def test_the_installed_collection_parses_as_the_documentation_installs_it(
    tmp_path: Path,
) -> None:
    tarball = build(SOURCE, tmp_path)
    from_tarball, from_checkout = tmp_path / "from-tarball", tmp_path / "from-checkout"
    ansible(
        "ansible-galaxy",
        "collection",
        "install",
        "-p",
        str(from_tarball),
        str(tarball),
        work=tmp_path,
        collections=from_tarball,
    )
    # The documentation's command, from the checkout's root.
    ansible(
        "ansible-galaxy",
        "collection",
        "install",
        "-p",
        str(from_checkout),
        f"./{SOURCE}",
        work=tmp_path,
        collections=from_checkout,
        cwd=REPO,
    )
    installed = from_tarball / "ansible_collections" / "django_zipapp" / "deploy"
    assert {path.name for path in installed.iterdir()} == CONTENT
    assert files(installed) == files(from_checkout / "ansible_collections/django_zipapp/deploy")
    (tmp_path / "own.yml").write_text(OWN_PLAYBOOK)
    for collections in (from_tarball, from_checkout):
        parsed = ansible(
            "ansible-playbook",
            "-i",
            "localhost,",
            "--syntax-check",
            "django_zipapp.deploy.rollout",
            "django_zipapp.deploy.rollback",
            "own.yml",
            work=tmp_path,
            collections=collections,
        )
        playbooks = collections / "ansible_collections" / "django_zipapp" / "deploy" / "playbooks"
        assert f"playbook: {playbooks}/rollout.yml" in parsed


def files(root: Path) -> set[str]:
    return {str(path.relative_to(root)) for path in root.rglob("*")}


ENVIRONMENT_PLAYBOOK = """\
- name: Write the environment file as the role does
  hosts: localhost
  gather_facts: false
  vars_files:
    - {vars_file}
  vars:
    zipapp_name: site
    zipapp_root: /srv/site
    zipapp_config_format: yaml
  tasks:
    - name: Write it
      ansible.builtin.copy:
        content: "{{{{ _zipapp_env_text }}}}"
        dest: {dest}
        mode: "0600"
"""


def play_locally(
    playbook: str, values: dict[str, object], work: Path
) -> subprocess.CompletedProcess[str]:
    """ansible-playbook on this machine, with these variables, the collection not installed."""
    (work / "playbook.yml").write_text(playbook)
    (work / "values.json").write_text(json.dumps(values))
    return run_ansible(
        "ansible-playbook",
        "-i", "localhost,", "-c", "local",
        "-e", f"ansible_python_interpreter={sys.executable}",
        "-e", f"@{work / 'values.json'}",
        str(work / "playbook.yml"),
        work=work,
        collections=work / "none",
    )  # fmt: skip


def test_the_environment_file_quotes_every_character_systemd_reads_specially(
    tmp_path: Path,
) -> None:
    # systemd's EnvironmentFile: in double quotes, a backslash escapes ", \ and $.
    values = {"PLAIN": "abc", "QUOTED": "a$b\\c\"d e'f%g", "ENDS": "x\\"}
    playbook = ENVIRONMENT_PLAYBOOK.format(
        vars_file=REPO / SOURCE / "roles/zipapp/vars/main.yml", dest=tmp_path / "site.env"
    )
    result = play_locally(playbook, {"zipapp_environment": values}, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "site.env").read_text() == (
        'ENDS="x\\\\"\nPLAIN="abc"\nQUOTED="a\\$b\\\\c\\"d e\'f%g"\n'
    )


# The role's health check on its own, against the server of a test.
HEALTH_PLAYBOOK = """\
- name: The health check
  hosts: all
  gather_facts: false
  tasks:
    - name: Check
      ansible.builtin.include_tasks: {tasks}
"""


class BehindAProxy(BaseHTTPRequestHandler):
    """A site behind a proxy that ends TLS: SECURE_SSL_REDIRECT, ALLOWED_HOSTS its name."""

    def do_GET(self) -> None:
        proxied = self.headers.get("X-Forwarded-Proto") == "https"
        self.send_response(
            200 if proxied and self.headers.get("Host") == "www.example.com" else 301
        )
        self.send_header("Location", "https://www.example.com/")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


@pytest.mark.parametrize("headers", [{}, {"Host": "www.example.com", "X-Forwarded-Proto": "https"}])
def test_the_health_check_sends_the_headers_a_site_behind_a_proxy_needs(
    tmp_path: Path, headers: dict[str, str]
) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BehindAProxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        tasks = REPO / SOURCE / "roles/zipapp/tasks/health.yml"
        values = {
            "zipapp_health_url": f"http://127.0.0.1:{server.server_port}/",
            "zipapp_health_headers": headers,
            "zipapp_health_timeout": 1,
        }
        result = play_locally(HEALTH_PLAYBOOK.format(tasks=tasks), values, tmp_path)
    finally:
        server.shutdown()
        server.server_close()
    if headers:
        assert result.returncode == 0, result.stdout + result.stderr
    else:  # redirected to https, as the site is without them
        assert result.returncode != 0
        assert "with HTTP 301 instead of 200" in result.stdout, result.stdout
