"""Bad configurations against the real archive: named, clean, and never a value shown.

Every case plants a unique secret in every field it does not break; none of them may
reach stdout or stderr of `check`, `migrate` or `serve`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.archives import Built, free_port, run_archive, site_env

pytestmark = pytest.mark.e2e

# One unique value per field that can hold one; each is valid, so only the case's own
# field is wrong.
PLANTED = {
    "SECRET_KEY": "planted-secret-key-7d41a9c2",
    # The archive carries no PostgreSQL driver: a URL it can use.
    "DATABASE_URL": "sqlite:////nonexistent/planted-db-path-0e8b5f13/db.sqlite3",
    "ALLOWED_HOSTS": "planted-host-5c2e7a90.example",
    "CSRF_TRUSTED_ORIGINS": "https://planted-origin-91f3d6b4.example",
    "SERVE_ACCESS_LOG": "/nonexistent/planted-log-3b7c0e52",
    "SERVE_BIND": "unix:/nonexistent/planted-bind-62d9a1f7.sock",
}
MARKERS = [
    "planted-secret-key-7d41a9c2",
    "planted-db-path-0e8b5f13",
    "planted-host-5c2e7a90",
    "planted-origin-91f3d6b4",
    "planted-log-3b7c0e52",
    "planted-bind-62d9a1f7",
    "planted-bad-value-4a6f",  # in the wrong values themselves, wherever the type allows
]
BAD = "planted-bad-value-4a6f"
COMMANDS = {"check": ["check"], "migrate": ["migrate", "--noinput"], "serve": ["serve"]}


@dataclass(frozen=True)
class Case:
    name: str
    expected: str  # what stderr must contain: the field or the file, and the reason
    env: dict[str, str] = field(default_factory=dict)
    file: tuple[str, str] | None = None  # name and content of the -C file
    unset: tuple[str, ...] = ()
    mode: int = 0o600
    wrapper: tuple[str, ...] = ()


CASES = [
    Case("missing SECRET_KEY", "  SECRET_KEY: required; set it in the config file or the "
         "SECRET_KEY environment variable", unset=("SECRET_KEY",)),
    Case("empty SECRET_KEY in the file", "  SECRET_KEY: must not be empty",
         file=("site.yaml", "SECRET_KEY: ''\n"), unset=("SECRET_KEY",)),
    Case("DEBUG not a boolean", "  DEBUG: Input should be a valid boolean",
         env={"DEBUG": f"maybe-{BAD}"}),
    Case("HTTPS (a project field) not a boolean", "  HTTPS: Input should be a valid boolean",
         env={"HTTPS": f"sometimes-{BAD}"}),
    Case("SERVE_WORKERS not a number", "  SERVE_WORKERS: Input should be a valid integer",
         env={"SERVE_WORKERS": f"four-{BAD}"}),
    Case("SERVE_WORKERS negative", "  SERVE_WORKERS: Input should be greater than or equal to 0",
         env={"SERVE_WORKERS": "-2"}),
    Case("SERVE_TIMEOUT zero", "  SERVE_TIMEOUT: Input should be greater than or equal to 1",
         env={"SERVE_TIMEOUT": "0"}),
    Case("SERVE_THREADS a string in the file", "  SERVE_THREADS: Input should be a valid "
         "integer", file=("site.json", json.dumps({"SERVE_THREADS": f"many-{BAD}"}))),
    Case("STATE_DIR is a file", "  STATE_DIR: is not a directory; the SQLite database is "
         "kept there", env={"STATE_DIR": "/dev/null"}, unset=("DATABASE_URL",)),
    Case("KEEP_BUILDS zero", "  KEEP_BUILDS: Input should be greater than or equal to 1",
         env={"KEEP_BUILDS": "0"}),
    Case("LOG_LEVEL unknown", "  LOG_LEVEL: Input should be 'DEBUG', 'INFO', 'WARNING', "
         "'ERROR' or 'CRITICAL'", env={"LOG_LEVEL": f"loud-{BAD}"}),
    Case("DATABASE_URL unknown scheme", "  DATABASE_URL: not a database URL dj-database-url "
         "understands", env={"DATABASE_URL": f"bogus://site:{BAD}@db/site"}),
    Case("DATABASE_URL bad port", "  DATABASE_URL: not a database URL",
         env={"DATABASE_URL": f"postgres://site:{BAD}@db:notaport/site"}),
    Case("DATABASE_URL without its driver", "  DATABASE_URL: its database backend needs "
         "psycopg or psycopg2", env={"DATABASE_URL": f"postgres://site:{BAD}@db/site"}),
    Case("ALLOWED_HOSTS broken JSON", "  ALLOWED_HOSTS: not a JSON list",
         env={"ALLOWED_HOSTS": f'["{BAD}.example",'}),
    Case("ALLOWED_HOSTS a number in the file", "  ALLOWED_HOSTS: Input should be a valid list",
         file=("site.toml", "ALLOWED_HOSTS = 42\n")),
    Case("CSRF_TRUSTED_ORIGINS without a scheme", "  CSRF_TRUSTED_ORIGINS: each origin needs "
         "its scheme", env={"CSRF_TRUSTED_ORIGINS": f"{BAD}.example"}),
    Case("unknown key in the file", "  SECRET_KEYS: not a setting of this site",
         file=("site.yaml", f"SECRET_KEYS: {BAD}\n")),
    Case("malformed YAML", "is not valid YAML (line 3)",
         file=("site.yaml", f"SERVE_WORKERS: 2\nSECRET_KEY: [{BAD}\n")),
    Case("malformed TOML", "is not valid TOML (line 2)",
         file=("site.toml", f'SERVE_WORKERS = 2\nSECRET_KEY = "{BAD}\n')),
    Case("malformed JSON", "is not valid JSON (line 1)",
         file=("site.json", f'{{"SECRET_KEY": "{BAD}",}}')),
    Case("a JSON list instead of a mapping", "the config file must hold field names with "
         "their values", file=("site.json", f'["{BAD}"]')),
    Case("nonexistent file", "cannot be read: No such file or directory",
         file=("missing.yaml", "")),
    Case("a directory as the file", "cannot be read: Is a directory", file=("dir.yaml", "")),
    Case("unreadable file", "cannot be read: Permission denied",
         file=("site.yaml", f"SECRET_KEY: {BAD}\n"), mode=0o000),
    Case("EXAMPLE_CONFIG names a missing file", "cannot be read: No such file or directory",
         env={"EXAMPLE_CONFIG": "/nonexistent/site.yaml"}),
    Case("CREDENTIALS_DIRECTORY not a directory", "CREDENTIALS_DIRECTORY names",
         env={"CREDENTIALS_DIRECTORY": "/nonexistent/credentials"}),
    Case("a bad credential", "  SERVE_WORKERS: Input should be a valid integer",
         file=("credentials/SERVE_WORKERS", f"three-{BAD}\n")),
]  # fmt: skip


def case_environment(built: Built, case: Case, work: Path) -> tuple[dict[str, str], list[str]]:
    """The environment and -C option of a case, with its files written under work."""
    environment = site_env(built, **PLANTED)
    environment.update(case.env)
    # A field the case's file sets must not also come from the environment, which wins.
    written = case.file[1] if case.file else ""
    for name in [*case.unset, *(name for name in PLANTED if name in written)]:
        environment.pop(name, None)
    options: list[str] = []
    if case.file is not None:
        name, content = case.file
        path = work / name
        if name.startswith("credentials/"):
            environment["CREDENTIALS_DIRECTORY"] = str(path.parent)
        else:
            options = ["-C", str(path)]
        write_case_file(path, content, case.mode)
    return environment, options


def write_case_file(path: Path, content: str, mode: int) -> None:
    if path.name == "missing.yaml":
        return
    if path.name == "dir.yaml":
        path.mkdir()
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    path.chmod(mode)


def runnable_cases() -> list[Case]:
    return [case for case in CASES if case.mode or unreadable_wrapper() is not None]


def unreadable_wrapper() -> tuple[str, ...] | None:
    """How to run without the right to read a mode-000 file: root reads anything."""
    if os.geteuid() != 0:
        return ()
    if shutil.which("setpriv") is None:
        return None
    return ("setpriv", "--bounding-set=-dac_override,-dac_read_search", "--")


def run_case(
    built: Built, case: Case, command: str, work: Path
) -> subprocess.CompletedProcess[str]:
    environment, options = case_environment(built, case, work)
    wrapper = unreadable_wrapper() if case.mode == 0o000 else ()
    args = [*options, *COMMANDS[command]]
    if command == "serve":
        args += ["--bind", f"127.0.0.1:{free_port()}", "--workers", "1"]
    return run_archive(built, *args, env=environment, cwd=work, wrapper=wrapper or ())


def run_all(built: Built, base: Path) -> dict[tuple[str, str], subprocess.CompletedProcess[str]]:
    jobs = {}
    for number, case in enumerate(runnable_cases()):
        for command in COMMANDS:
            work = base / f"{number}-{command}"
            work.mkdir()
            jobs[(case.name, command)] = (case, command, work)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = pool.map(lambda job: run_case(built, *job), jobs.values())
        return dict(zip(jobs, results, strict=True))


def test_at_least_twenty_cases() -> None:
    assert len(CASES) >= 20
    assert len({case.name for case in CASES}) == len(CASES)


def test_every_bad_configuration_is_named_cleanly_and_shows_no_value(
    built: Built, tmp_path: Path
) -> None:
    results = run_all(built, tmp_path)
    failures = []
    for (name, command), result in results.items():
        case = next(case for case in CASES if case.name == name)
        output = result.stdout + result.stderr
        problems = [
            "exit status 0" if result.returncode == 0 else "",
            "a traceback" if "Traceback" in output else "",
            "not one error" if not result.stderr.startswith("error: ") else "",
            "output on stdout" if result.stdout else "",
            f"no {case.expected!r}" if case.expected not in result.stderr else "",
            *(f"the value {marker!r}" for marker in MARKERS if marker in output),
        ]
        if any(problems):
            failures.append(f"{name} / {command}: {', '.join(filter(None, problems))}\n{output}")
    assert failures == []


def test_an_unreadable_file_can_be_tried() -> None:
    if unreadable_wrapper() is None:
        pytest.skip("running as root without setpriv: a mode-000 file stays readable to root")
    assert any(case.mode == 0 for case in runnable_cases())


def test_a_list_as_a_plain_string_works(built: Built) -> None:
    environment = site_env(
        built,
        ALLOWED_HOSTS="www.example.com",
        CSRF_TRUSTED_ORIGINS="https://www.example.com, https://example.com",
    )
    result = run_archive(built, "config", "--show", env=environment)
    assert result.returncode == 0, result.stderr
    assert 'ALLOWED_HOSTS         environment  ["www.example.com"]\n' in result.stdout
    assert (
        'CSRF_TRUSTED_ORIGINS  environment  ["https://www.example.com", "https://example.com"]\n'
    ) in result.stdout
    shell = run_archive(
        built,
        "shell",
        "--verbosity",
        "0",
        "-c",
        "from django.conf import settings; print(settings.ALLOWED_HOSTS)",
        env=environment,
    )
    assert shell.stdout == "['www.example.com']\n", shell.stderr


@pytest.mark.parametrize("file_format", ["yaml", "toml", "json"])
def test_sample_passes_check_once_secret_key_is_set(
    built: Built, tmp_path: Path, file_format: str
) -> None:
    environment = site_env(built)
    del environment["SECRET_KEY"]
    sample = run_archive(built, "config", "--sample", file_format, env=environment)
    assert (sample.returncode, sample.stderr) == (0, "")
    path = tmp_path / f"site.{file_format}"
    path.write_text(sample.stdout)
    if file_format != "json":  # JSON has no comments
        assert "# Django's SECRET_KEY: signs sessions and tokens." in sample.stdout
    unset = run_archive(built, "config", "--check", "-C", str(path), env=environment)
    assert unset.returncode == 1
    assert unset.stderr == (
        "error: The configuration is invalid:\n  SECRET_KEY: must not be empty; set it in the "
        "config file or the SECRET_KEY environment variable\n"
    )
    environment["SECRET_KEY"] = PLANTED["SECRET_KEY"]
    checked = run_archive(built, "config", "--check", "-C", str(path), env=environment)
    assert (checked.returncode, checked.stderr) == (0, "")
    assert checked.stdout == "The configuration is valid.\n"


def test_show_masks_secrets_and_names_each_source(built: Built, tmp_path: Path) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "SECRET_KEY").write_text(PLANTED["SECRET_KEY"] + "\n")
    config_file = tmp_path / "site.toml"
    config_file.write_text(f'DATABASE_URL = "{PLANTED["DATABASE_URL"]}"\nSERVE_WORKERS = 2\n')
    config_file.chmod(0o600)
    environment = site_env(built, CREDENTIALS_DIRECTORY=str(credentials), SERVE_WORKERS="3")
    del environment["SECRET_KEY"]
    result = run_archive(built, "config", "--show", "-C", str(config_file), env=environment)
    assert (result.returncode, result.stderr) == (0, "")
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["FIELD", "SOURCE", "VALUE"]
    shown = {line.split()[0]: line.split(maxsplit=2)[1:] for line in lines[1:]}
    assert shown["SECRET_KEY"] == ["credential", "********"]
    assert shown["DATABASE_URL"] == ["file", json.dumps(PLANTED["DATABASE_URL"])]
    assert shown["SERVE_WORKERS"] == ["environment", "3"]
    assert shown["DEBUG"] == ["default", "false"]
    assert shown["STATE_DIR"] == ["default", json.dumps(str(built.work / "state"))]
    assert shown["HTTPS"] == ["default", "false"]
    assert PLANTED["SECRET_KEY"] not in result.stdout


def test_a_secret_file_readable_by_others_is_warned_about(built: Built, tmp_path: Path) -> None:
    config_file = tmp_path / "site.yaml"
    config_file.write_text(f"SECRET_KEY: {PLANTED['SECRET_KEY']}\n")
    config_file.chmod(0o644)
    environment = site_env(built)
    del environment["SECRET_KEY"]
    result = run_archive(built, "config", "--check", "-C", str(config_file), env=environment)
    assert result.returncode == 0
    assert result.stderr == (
        f"warning: {str(config_file)!r} holds SECRET_KEY and can be read by other users. "
        f"Make it readable by the service's user only: chmod 600 {config_file}\n"
    )
    config_file.chmod(0o640)
    result = run_archive(built, "config", "--check", "-C", str(config_file), env=environment)
    assert (result.returncode, result.stderr) == (0, "")
