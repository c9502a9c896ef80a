"""Builds you can trust, end to end: reproducible, listed, described, targeted, checked.

Two copies of example_project in two folders are built with the same SOURCE_DATE_EPOCH;
the archive they give is then started whole, cut short, with a byte changed, and with a
build record for another machine.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import struct
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

import django_zipapp
from django_zipapp.builder.launcher import record_size
from tests.archives import EXAMPLE, Built, build_in, run_archive, site_env
from tests.sbom import check_sbom, packed_distributions
from tests.signing import SIGNING_PASSWORD, key_id, make_signing_key, public_key

pytestmark = pytest.mark.e2e

SOURCE_DATE_EPOCH = "1700000000"
EM_AARCH64 = 183


@dataclass(frozen=True)
class Twins:
    one: Built
    two: Built
    key: Path  # the minisign secret key both are signed with


def copy_example(folder: Path) -> Path:
    project = folder / "project"
    shutil.copytree(
        EXAMPLE, project, ignore=shutil.ignore_patterns("__pycache__", "var", "staticfiles")
    )
    (project / "notes" / "NOTES.md").write_text("internal notes\n")
    (project / "notes" / ".env.local").write_text("SECRET_KEY=leaked\n")
    return project


@pytest.fixture(scope="module")
def twins(tmp_path_factory: pytest.TempPathFactory) -> Twins:
    """Two builds, each with its SBOM beside it and signed with the same key."""
    built = []
    key = make_signing_key(tmp_path_factory.mktemp("keys"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOURCE_DATE_EPOCH", SOURCE_DATE_EPOCH)
        patch.setenv("ZIPAPP_SIGN_PASSWORD", SIGNING_PASSWORD)
        for name in ("one", "two"):
            work = tmp_path_factory.mktemp(name)
            trust = ["--sbom", str(work / "site.cdx.json"), "--sign", str(key)]
            output = ["-o", str(work / "site.pyz")]
            result = build_in(copy_example(work), "--exclude", "*.md", *trust, *output)
            assert result.returncode == 0, result.stdout + result.stderr
            built.append(Built(work / "site.pyz", result.stdout, work))
    return Twins(built[0], built[1], key)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_two_folders_give_the_same_archive(twins: Twins) -> None:
    assert twins.one.work != twins.two.work
    assert sha256(twins.one.archive) == sha256(twins.two.archive)
    assert f"sha256 {sha256(twins.two.archive)})" in twins.two.build_output
    # The second build took the dependencies the first one installed.
    assert "- Using the installed dependencies " in twins.two.build_output
    with zipfile.ZipFile(twins.one.archive) as archive:
        names = archive.namelist()
        text = b"".join(archive.read(name) for name in names if name.endswith(".json"))
        dates = {info.filename: info.date_time for info in archive.infolist()}
    assert "site-packages/notes/views.py" in names
    assert [name for name in names if name.endswith(("NOTES.md", ".env.local"))] == []
    assert str(twins.one.work).encode() not in text
    # The dependencies' part carries the zip epoch, so that it does not change with every
    # commit and is reused; the project and the build record carry SOURCE_DATE_EPOCH.
    dependency = ("site-packages/django/", "bytecode/django/", "site-packages/gunicorn/")
    assert {d for n, d in dates.items() if n.startswith(dependency)} == {(1980, 1, 1, 0, 0, 0)}
    assert {d for n, d in dates.items() if not n.startswith(dependency[:2])} >= {
        (2023, 11, 14, 22, 13, 20)
    }
    project = ("site-packages/notes/", "bytecode/notes/", "django_zipapp.json", "__main__.py")
    assert {d for n, d in dates.items() if n.startswith(project)} == {(2023, 11, 14, 22, 13, 20)}


def test_list_shows_what_goes_in_and_why_the_rest_stays_out(tmp_path: Path) -> None:
    project = copy_example(tmp_path)
    (project / "design").mkdir()
    (project / "design" / "mockup.svg").write_text("<svg/>")
    (project / "env").mkdir()  # a virtualenv by another name than .venv
    (project / "env" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    # Named as a dependency, as many projects do: the running copy satisfies it, so pip
    # neither looks it up (no index has this checkout's version) nor brings shiv and pip.
    with (project / "requirements.txt").open("a") as requirements:
        requirements.write("django-zipapp\n")
    result = build_in(project, "--list", "--exclude", "*.md")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Dependencies from requirements.txt, as pip resolves them for ")
    assert [line for line in lines if line.startswith("  + Django ")] != []
    running = f"  + django-zipapp {django_zipapp.__version__} (the copy running this build)"
    assert running in lines
    assert [line for line in lines if line.startswith(("  + shiv ", "  + pip "))] == []
    assert f"Project files from {project}:" in lines
    assert "  + notes/views.py" in lines
    assert "  - notes/.env.local  (private environment file)" in lines
    assert "  - notes/NOTES.md  (excluded by '*.md')" in lines
    reason = "not a package the site imports, nor a data directory the settings name"
    assert f"  - design/  ({reason})" in lines
    assert "  - env/  (virtualenv: never packed)" in lines
    assert "  - manage.py  (the development entry point)" in lines
    assert "  + notes/site.css" in lines
    assert "  + admin/css/base.css" in lines
    assert lines[-1].startswith("Written by the build: django_zipapp.json (the build record)")
    assert not (project / "site.pyz").exists()


def test_info_describes_the_build_without_configuration(twins: Twins) -> None:
    environment = site_env(twins.one)
    del environment["SECRET_KEY"]
    text = run_archive(twins.one, "info", env=environment)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0] == "project        example (no version declared)"
    assert lines[2] == "built at       2023-11-14 22:13:20 UTC"
    assert lines[3] == "git commit     (none: not a git checkout)"
    python = f"{sys.implementation.name} {sys.version_info.major}.{sys.version_info.minor}"
    assert lines[4].startswith(f"built for      {python} on ")
    assert any(line.startswith("  Django ") for line in lines)
    as_json = run_archive(twins.one, "info", "--json", env=environment)
    with zipfile.ZipFile(twins.one.archive) as archive:
        assert json.loads(as_json.stdout) == json.loads(archive.read("django_zipapp.json"))


def assert_refused(result: subprocess.CompletedProcess[str], message: str, cache: Path) -> None:
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == f"error: {message}\n"
    # Nothing unpacked that a later start could take for a complete extraction.
    assert not cache.exists() or list(cache.iterdir()) == []


def damaged_copy(twins: Twins, folder: Path, data: bytes) -> Built:
    folder.mkdir()
    (folder / "site.pyz").write_bytes(data)
    (folder / "site.pyz").chmod(0o755)
    return Built(folder / "site.pyz", "", folder)


def test_a_truncated_archive_says_so(twins: Twins, tmp_path: Path) -> None:
    data = twins.one.archive.read_bytes()
    cut = damaged_copy(twins, tmp_path / "cut", data[:1_000_000])
    result = run_archive(cut, "check", cwd=cut.work)
    message = f"{cut.archive} is damaged: it has 1000000 bytes, not {len(data)}. Download it again."
    assert_refused(result, message, cut.work / "cache")


def test_a_changed_byte_is_found_before_unpacking(twins: Twins, tmp_path: Path) -> None:
    name = "site-packages/django/core/management/base.py"
    with zipfile.ZipFile(twins.one.archive) as archive:
        entry = archive.getinfo(name)
    data = bytearray(twins.one.archive.read_bytes())
    data[entry.header_offset + 30 + len(name) + entry.compress_size // 2] ^= 0xFF
    changed = damaged_copy(twins, tmp_path / "changed", bytes(data))
    result = run_archive(changed, "check")
    message = (
        f"site.pyz is damaged: its entry {name!r} does not match its CRC-32 checksum (the "
        f"file has {len(data)} bytes, as built). Download or build it again; nothing was "
        "unpacked."
    )
    assert_refused(result, message, changed.work / "cache")
    # The intact archive then starts from the same cache directory.
    shutil.copy(twins.one.archive, changed.archive)
    assert run_archive(changed, "info").returncode == 0


def test_a_damaged_local_header_is_found_before_unpacking(twins: Twins, tmp_path: Path) -> None:
    name = "site-packages/django/core/management/base.py"
    with zipfile.ZipFile(twins.one.archive) as archive:
        entry = archive.getinfo(name)
    data = bytearray(twins.one.archive.read_bytes())
    data[entry.header_offset + 1] ^= 0xFF  # the "K" of its "PK\x03\x04"
    changed = damaged_copy(twins, tmp_path / "header", bytes(data))
    result = run_archive(changed, "check")
    message = (
        f"site.pyz is damaged: its entry {name!r} has no valid local header (the file has "
        f"{len(data)} bytes, as built). Download or build it again; nothing was unpacked."
    )
    assert_refused(result, message, changed.work / "cache")


def test_another_machine_is_named_before_unpacking(twins: Twins, tmp_path: Path) -> None:
    other = damaged_copy(twins, tmp_path / "other", twins.one.archive.read_bytes())
    with zipfile.ZipFile(other.archive) as archive:
        build = json.loads(archive.read("django_zipapp.json"))
    build |= {"platform": "manylinux2014_s390x", "machine": ["s390x"]}
    # A later entry of the same name wins; the launcher is told the new size.
    with zipfile.ZipFile(other.archive, "a") as archive, pytest.warns(UserWarning):
        archive.writestr("django_zipapp.json", json.dumps(build))
    record_size(other.archive)
    result = run_archive(other, "check")
    python = f"{sys.implementation.name} {build['python']}"
    assert result.stderr.startswith(
        f"error: site.pyz was built for {python} on manylinux2014_s390x and cannot run on "
        f"{python} on linux "
    )
    assert_refused(result, result.stderr[len("error: ") : -1], other.work / "cache")


def test_aarch64_build_carries_aarch64_libraries_only(tmp_path: Path) -> None:
    project = copy_example(tmp_path)
    output = tmp_path / "site-arm.pyz"
    options = ["--platform", "manylinux2014_aarch64", "--python-version", "3.12"]
    result = build_in(project, *options, "-o", str(output))
    if result.returncode != 0 and "No matching distribution" in result.stderr:
        pytest.skip(f"the package index has no aarch64 wheel for a dependency: {result.stderr}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert output.read_bytes().startswith(b"#!/usr/bin/env -S python3.12 -c ")
    with zipfile.ZipFile(output) as archive:
        libraries = [n for n in archive.namelist() if n.endswith(".so") or ".so." in n]
        machines = {name: _elf_machine(archive.read(name)) for name in libraries}
        build = json.loads(archive.read("django_zipapp.json"))
    assert libraries != []
    assert set(machines.values()) == {EM_AARCH64}, machines
    assert (build["python"], build["machine"], build["native"]) == ("3.12", ["aarch64"], True)
    # Started here, by the Python that runs the tests, it names both in one line.
    started = subprocess.run(
        [sys.executable, str(output), "check"],
        env={**site_env(Built(output, "", tmp_path))},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert started.returncode == 1
    assert started.stderr.startswith(
        "error: site-arm.pyz was built for cpython 3.12 on manylinux2014_aarch64 and cannot "
        f"run on {sys.implementation.name} {sys.version_info.major}.{sys.version_info.minor} "
        f"on {sys.platform} "
    )
    assert started.stderr.count("\n") == 1
    assert not (tmp_path / "cache").exists()


def _elf_machine(data: bytes) -> int:
    assert data[:4] == b"\x7fELF"
    byte_order = "<" if data[5] == 1 else ">"
    (machine,) = struct.unpack_from(f"{byte_order}H", data, 18)
    return int(machine)


def test_a_local_requirement_is_built_from_a_clean_copy(tmp_path: Path) -> None:
    project = copy_example(tmp_path)
    package = tmp_path / "localpkg"
    (package / "localpkg").mkdir(parents=True)
    (package / "localpkg" / "__init__.py").write_text("")
    (package / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "localpkg"\nversion = "1.0"\n'
    )
    # What an earlier `pip install ./localpkg` left: a module deleted from the sources since.
    (package / "build" / "lib" / "localpkg").mkdir(parents=True)
    (package / "build" / "lib" / "localpkg" / "deleted.py").write_text("")
    with (project / "requirements.txt").open("a") as requirements:
        requirements.write("../localpkg\n")
    before = sorted(path.relative_to(package) for path in package.rglob("*"))
    result = build_in(project)
    assert result.returncode == 0, result.stderr
    with zipfile.ZipFile(project / "site.pyz") as archive:
        names = archive.namelist()
    assert "site-packages/localpkg/__init__.py" in names
    assert [name for name in names if name.endswith("deleted.py")] == []
    # Nothing was built in the developer's tree.
    assert sorted(path.relative_to(package) for path in package.rglob("*")) == before


# Two clean builds at once into an empty cache, each installing every dependency: run
# once (see pyproject.toml).
@pytest.mark.heavy
def test_concurrent_builds_share_one_complete_cache_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", SOURCE_DATE_EPOCH)
    cache = tmp_path / "cache"
    projects = [copy_example(tmp_path / name) for name in ("a", "b")]
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(
            pool.map(
                lambda project: build_in(
                    project, "--cache-dir", str(cache), "-o", str(project / "site.pyz")
                ),
                projects,
            )
        )
    for result in results:
        assert result.returncode == 0, result.stdout + result.stderr
    assert sha256(projects[0] / "site.pyz") == sha256(projects[1] / "site.pyz")
    # One entry of dependencies, and no partial one left behind; beside it, the bytecode,
    # the archive's dependency part, the requirements' last resolution, the verification's
    # extractions, the compressed static files.
    others = {"bytecode", "archive-layers", "previous", "verify", "static"}
    (entry,) = (path for path in cache.iterdir() if path.name not in others)
    (layer,) = (cache / "archive-layers").iterdir()
    assert sorted(p.name for p in layer.iterdir()) == ["layer.json", "layer.zip"]
    assert (entry / "site-packages" / "django" / "__init__.py").is_file()


def test_the_sbom_lists_what_is_packed_the_same_in_both_builds(
    twins: Twins, tmp_path: Path
) -> None:
    written = (twins.one.work / "site.cdx.json").read_bytes()
    assert written == (twins.two.work / "site.cdx.json").read_bytes()
    count = check_sbom(twins.one.archive, written, "example")
    print(f"SBOM of example_project: {count} components")
    made = rf"^- SBOM: {count} components \(CycloneDX 1\.6\) in \d+ ms$"
    assert re.search(made, twins.one.build_output, re.MULTILINE), twins.one.build_output
    # What makes the SBOM and the signature stays on the build machine.
    packed = {name for name, _ in packed_distributions(twins.one.archive)}
    assert packed.isdisjoint({"cyclonedx-python-lib", "py-minisign", "cryptography", "shiv"})
    cache = tmp_path / "cache"
    environment = site_env(twins.one, SHIV_ROOT=str(cache))
    result = run_archive(twins.one, "info", "--sbom", env=environment)
    assert result.returncode == 0, result.stderr
    assert result.stdout.encode() == written
    assert not cache.exists() or list(cache.iterdir()) == []  # nothing unpacked


def test_the_provenance_statement_names_the_inputs(twins: Twins) -> None:
    result = run_archive(twins.one, "info", "--provenance")
    assert result.returncode == 0, result.stderr
    statement = json.loads(result.stdout)
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    subject = {"name": "site.pyz", "digest": {"sha256": sha256(twins.one.archive)}}
    assert statement["subject"] == [subject]
    definition = statement["predicate"]["buildDefinition"]
    requirements = EXAMPLE / "requirements.txt"
    assert {"name": "requirements.txt", "digest": {"sha256": sha256(requirements)}} in (
        definition["resolvedDependencies"]
    )
    versions = statement["predicate"]["runDetails"]["builder"]["version"]
    assert set(versions) >= {"django-zipapp", "shiv", "pip", "python", "cyclonedx-python-lib"}


def test_a_signed_archive_is_verified_by_minisign(twins: Twins) -> None:
    key = public_key(twins.key)
    signature = twins.one.archive.with_name("site.pyz.minisig")
    assert signature.read_bytes() == twins.two.archive.with_name("site.pyz.minisig").read_bytes()
    result = minisign_verify(twins.one.archive, key)
    assert result.returncode == 0, result.stderr
    signed = rf"^- Signed: site\.pyz\.minisig \(minisign key {key_id(key)}\) in \d+ ms$"
    assert re.search(signed, twins.one.build_output, re.MULTILINE), twins.one.build_output
    assert "Signature and comment signature verified" in result.stdout
    stdout = StringIO()
    call_command("verify-signature", str(twins.one.archive), "-P", key, stdout=stdout)
    assert stdout.getvalue().splitlines() == [
        "Signature and comment signature verified: site.pyz",
        "Trusted comment: file:site.pyz\thashed",
    ]


def test_a_changed_byte_or_another_key_is_refused(twins: Twins, tmp_path: Path) -> None:
    key = public_key(twins.key)
    changed = tmp_path / "site.pyz"
    data = bytearray(twins.one.archive.read_bytes())
    data[len(data) // 2] ^= 0x01
    changed.write_bytes(bytes(data))
    shutil.copy(twins.one.archive.with_name("site.pyz.minisig"), tmp_path)
    assert minisign_verify(changed, key).returncode != 0
    with pytest.raises(CommandError) as refused:
        call_command("verify-signature", str(changed), "-P", key)
    assert str(refused.value) == (
        "Signature refused: site.pyz does not match its signature by key "
        f"{key_id(key)}: the file was changed after it was signed (damaged or replaced on "
        "the way)."
    )
    other = public_key(make_signing_key(tmp_path, password=None))
    assert minisign_verify(twins.one.archive, other).returncode != 0
    with pytest.raises(CommandError) as refused:
        call_command("verify-signature", str(twins.one.archive), "-P", other)
    assert str(refused.value) == (
        f"Signature refused: site.pyz was signed by key {key_id(key)}, not by the public key "
        f"given ({key_id(other)}): it was not signed by the key this host trusts."
    )
    changed.with_name("site.pyz.minisig").unlink()
    with pytest.raises(CommandError, match=r"site\.pyz has no signature: "):
        call_command("verify-signature", str(changed), "-P", key)


def minisign_verify(archive: Path, key: str) -> subprocess.CompletedProcess[str]:
    command = ["minisign", "-Vm", str(archive), "-P", key]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)
