"""Deploys that start warm: a new build shares what an older one unpacked.

Two builds of example_project that differ in one template (``built`` and ``rebuilt``),
deployed one after the other into one cache directory, as a service's would be.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import zipfile
from pathlib import Path

import pytest

from django_zipapp.boot.entry import _command
from django_zipapp.boot.index import extracted_name
from django_zipapp.boot.names import STAMP
from django_zipapp.runtime import ARCHIVE_COMMANDS, HELP
from tests.archives import (
    Built,
    get,
    left_packed,
    run_archive,
    running_server,
    site_env,
    wait_for_new_temporary,
)

MARKER = ".django-zipapp-complete"


def test_the_usage_text_lists_every_command_of_the_archive() -> None:
    for name in ARCHIVE_COMMANDS:
        assert f"\n  {name} " in HELP, name


def test_bytecode_unpacks_into_pycache() -> None:
    assert extracted_name("site-packages/django/__init__.py") == "site-packages/django/__init__.py"
    assert (
        extracted_name("bytecode/django/db/models.cpython-311.pyc")
        == "site-packages/django/db/__pycache__/models.cpython-311.pyc"
    )
    assert (
        extracted_name("bytecode/six.cpython-311.pyc")
        == "site-packages/__pycache__/six.cpython-311.pyc"
    )


@pytest.mark.parametrize(
    ("args", "command"),
    [
        ([], ""),
        (["info", "--json"], "info"),
        (["-C", "conf.yaml", "info"], "info"),
        (["--config=conf.yaml", "--help"], "--help"),
        (["-Cconf.yaml", "serve"], "serve"),
    ],
)
def test_the_command_is_found_after_the_config_option(args: list[str], command: str) -> None:
    assert _command(args) == command


def deploy(built: Built, tmp_path: Path) -> Built:
    """Copy the archive into place as a deploy script would: a rename over the old one."""
    srv = tmp_path / "srv"
    srv.mkdir(exist_ok=True)
    for name in ("cache", "state"):
        (tmp_path / name).mkdir(exist_ok=True)
    shutil.copy2(built.archive, srv / ".site.pyz.new")
    os.replace(srv / ".site.pyz.new", srv / "site.pyz")
    return Built(srv / "site.pyz", built.build_output, tmp_path)


def extraction_of(site: Built) -> Path:
    result = run_archive(site, "prepare")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Ready: ")
    return Path(result.stdout.removeprefix("Ready: ").strip())


def recorded(archive: Path) -> dict[str, str]:
    with zipfile.ZipFile(archive) as zf:
        lines = zf.read("django_zipapp.sha256").decode().splitlines()
    return {name: digest for digest, _, name in (line.partition("  ") for line in lines)}


def assert_as_recorded(extraction: Path, archive: Path) -> None:
    """Every file the archive records is unpacked as recorded, but what stays packed."""
    import hashlib

    packed = left_packed(archive)
    for name, digest in recorded(archive).items():
        if name not in packed:
            assert hashlib.sha256((extraction / name).read_bytes()).hexdigest() == digest, name
    assert (extraction / MARKER).is_file()
    # Translation catalogues' sources stay in the archive, and so do the compiled ones
    # of other languages than LANGUAGE_CODE's (unpacked when asked for); its are there.
    assert packed <= set(recorded(archive))
    assert not any((extraction / name).exists() for name in packed)
    catalogues = extraction / "site-packages/django/conf/locale"
    for name in (
        "de/LC_MESSAGES/django.po",
        "de/LC_MESSAGES/django.mo",
        "en/LC_MESSAGES/django.po",
    ):
        assert str((catalogues / name).relative_to(extraction)) in packed
    assert (catalogues / "en/LC_MESSAGES/django.mo").is_file()
    walked = os.walk(extraction, followlinks=True)  # into the shared layers too
    assert not [name for _, _, files in walked for name in files if name.endswith(".po")]


def leftovers(cache: Path) -> list[str]:
    found = [p.name for p in cache.iterdir() if ".tmp-" in p.name or ".trash-" in p.name]
    store = cache / ".shared"
    stamping = [str(p.relative_to(store)) for p in store.glob(f"*/{STAMP}.tmp-*")]
    return found + [p.name for p in store.iterdir() if p.name.startswith(".")] + stamping


@pytest.mark.e2e
def test_info_and_the_usage_text_unpack_nothing(built: Built, tmp_path: Path) -> None:
    site = deploy(built, tmp_path)
    for args in [(), ("--help",), ("info",), ("info", "--json")]:
        result = run_archive(site, *args)
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""
    assert list((tmp_path / "cache").iterdir()) == []


@pytest.mark.e2e
def test_a_closed_pipe_ends_quietly(built: Built, tmp_path: Path) -> None:
    site = deploy(built, tmp_path)
    for args in (["info"], ["help"], ["diffsettings", "--all"]):
        script = (
            f"{site.archive} {' '.join(args)} | head -c 10 > /dev/null; echo ${{PIPESTATUS[0]}}"
        )
        result = subprocess.run(
            ["bash", "-c", script], env=site_env(site), capture_output=True, text=True, timeout=300
        )
        assert result.stderr == "", args
        assert result.stdout.strip() in ("0", "141"), args


@pytest.mark.e2e
def test_a_new_build_links_what_did_not_change(
    built: Built, rebuilt: Built, tmp_path: Path
) -> None:
    old = extraction_of(deploy(built, tmp_path))
    site = deploy(rebuilt, tmp_path)
    new = extraction_of(site)
    assert new != old
    marker = json.loads((new / MARKER).read_text())
    # Every file but the project's own.
    with zipfile.ZipFile(site.archive) as zf:
        shareable = set(zf.read("django_zipapp.shareable").decode().split())
    own = [
        name
        for name in recorded(site.archive)
        if name.split("/")[1] not in shareable and name not in left_packed(site.archive)
    ]
    assert {"notes", "example"} <= {n.split("/")[1] for n in own}
    assert {"django", "staticfiles", "templates"} <= shareable
    assert marker["shared"] == marker["files"] - len(own) > 1000
    linked = {
        entry.name: os.readlink(entry)
        for entry in (new / "site-packages").iterdir()
        if entry.is_symlink()
    }
    # Django and every other dependency are the old build's; the project is its own.
    assert linked["django"] == os.readlink(old / "site-packages" / "django")
    assert not {"notes", "example"} & set(linked)
    assert linked["staticfiles"] == os.readlink(old / "site-packages" / "staticfiles")
    assert_as_recorded(new, site.archive)
    assert_as_recorded(old, built.archive)
    # No bytecode is written at a start: it came with the archive.
    assert not any(
        name.endswith(".pyc") and name not in recorded(site.archive)
        for name in (str(p.relative_to(new)) for p in new.rglob("*.pyc"))
    )


@pytest.mark.e2e
def test_a_shared_file_altered_in_one_extraction_is_not_shared(
    built: Built, rebuilt: Built, tmp_path: Path
) -> None:
    old = extraction_of(deploy(built, tmp_path))
    target = old / "site-packages" / "django" / "shortcuts.py"
    original = target.read_bytes()
    target.chmod(0o644)
    target.write_bytes(original.replace(b"def render(", b"def rendeR("))  # same size
    site = deploy(rebuilt, tmp_path)
    new = extraction_of(site)
    # The new build unpacked its own django: the altered copy is left to the old build.
    assert not (new / "site-packages" / "django").is_symlink()
    assert (new / "site-packages" / "django" / "shortcuts.py").read_bytes() == original
    assert target.read_bytes() != original
    assert_as_recorded(new, site.archive)
    # Unshared, its files are still read-only: writing one fails for any user but root.
    assert not (new / "site-packages" / "django" / "shortcuts.py").stat().st_mode & 0o222
    result = run_archive(site, "check")
    assert result.returncode == 0, result.stderr


@pytest.mark.e2e
def test_a_preparation_killed_anywhere_leaves_the_serving_build_alone(
    built: Built, rebuilt: Built, tmp_path: Path
) -> None:
    old_site = deploy(built, tmp_path)
    environment = site_env(old_site, KEEP_BUILDS="1")
    assert run_archive(old_site, "migrate", "--noinput").returncode == 0
    cache = tmp_path / "cache"
    with running_server(old_site.archive, environment, tmp_path / "serve.log", workers=1) as srv:
        old = Path(str(next(p for p in cache.iterdir() if p.name.startswith("site.pyz_"))))
        # The deploy: the new archive renamed over the old one, which keeps serving.
        site = deploy(rebuilt, tmp_path)
        # Before it begins, in the middle (once it has begun), and after it ends.
        interrupted = 0
        for delay, once_begun in ((0.05, False), (0.0, True), (0.03, True), (3.0, False)):
            before = set(os.listdir(cache))
            start = subprocess.Popen(
                [str(site.archive), "prepare"], env=environment, start_new_session=True,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            if once_begun:
                wait_for_new_temporary(cache, before, start)
            time.sleep(delay)
            os.killpg(start.pid, signal.SIGKILL)
            start.wait()
            interrupted += any(".tmp-" in name for name in os.listdir(cache))
            assert_as_recorded(old, built.archive)
            assert get(srv.base + "/")[0] == 200
        assert interrupted > 0  # at least one preparation was killed half-way
        new = extraction_of(site)
        assert_as_recorded(new, site.archive)
        assert get(srv.base + "/")[0] == 200
    result = run_archive(site, "check", env=environment)
    assert result.returncode == 0, result.stderr
    assert leftovers(cache) == []


@pytest.mark.e2e
def test_pruning_while_a_linked_build_runs(built: Built, rebuilt: Built, tmp_path: Path) -> None:
    old_site = deploy(built, tmp_path)
    assert run_archive(old_site, "migrate", "--noinput").returncode == 0
    old = extraction_of(old_site)
    site = deploy(rebuilt, tmp_path)
    new = extraction_of(site)
    environment = site_env(site, KEEP_BUILDS="1")
    store = tmp_path / "cache" / ".shared"
    before = {p.name for p in store.iterdir()}
    with running_server(site.archive, environment, tmp_path / "serve.log", workers=1) as srv:
        # The new build's own start pruned the old one, with which it shares the
        # dependencies' layer: what the new one links to stays.
        assert not old.exists()
        after = {p.name for p in store.iterdir()}
        assert after <= before  # less what only the old build linked to
        assert os.readlink(new / "site-packages" / "django").split("/")[-2] in after
        links = [p for p in (new / "site-packages").iterdir() if p.is_symlink()]
        assert {os.readlink(p).split("/")[-2] for p in links} == after
        assert_as_recorded(new, site.archive)
        status, _, body = get(srv.base + "/")
        assert (status, b"Notes, rebuilt" in body) == (200, True)
        # Another prune while it runs (a later start of the same build) removes nothing.
        assert run_archive(site, "check", env=environment).returncode == 0
        assert {p.name for p in store.iterdir()} == after
        assert get(srv.base + "/")[0] == 200


def stamped_deploys(built: Built, rebuilt: Built, tmp_path: Path) -> tuple[Path, Built, Path]:
    """An old build, then a new one linked to its layers: the store's stamps written."""
    old = extraction_of(deploy(built, tmp_path))
    # A stamp does not vouch for a file changed in the clock tick it was taken in or
    # later: the last files unpacked into the store may be hashed by the next build,
    # which stamps them again. Let the clock move on before that.
    past_the_stamps_clock_tick()
    site = deploy(rebuilt, tmp_path)
    new = extraction_of(site)
    assert (new / "site-packages" / "django").is_symlink()
    past_the_stamps_clock_tick()
    started_again(site)  # the new build's own layers (those that differ) are stamped again
    past_the_stamps_clock_tick()
    return old, site, new


def past_the_stamps_clock_tick() -> None:
    time.sleep(0.1)  # some clock ticks of the file system's clock (a jiffy: 1-10 ms)


def started_again(site: Built) -> tuple[dict[str, int], Path]:
    """The same build unpacked anew (SHIV_FORCE_EXTRACT), and its completion marker."""
    result = run_archive(site, "prepare", env=site_env(site, SHIV_FORCE_EXTRACT="1"))
    assert result.returncode == 0, result.stderr
    new = Path(result.stdout.removeprefix("Ready: ").strip())
    marker: dict[str, int] = json.loads((new / MARKER).read_text())
    return marker, new


@pytest.mark.e2e
def test_a_stamped_layer_is_linked_without_hashing_it(
    built: Built, rebuilt: Built, tmp_path: Path
) -> None:
    _, site, new = stamped_deploys(built, rebuilt, tmp_path)
    marker, _ = started_again(site)
    assert marker["shared"] > 1000
    assert marker["hashed"] == 0
    assert_as_recorded(new, site.archive)
    # No stamp is linked into an extraction, and none is left half written.
    store = tmp_path / "cache" / ".shared"
    stamps = [entry / STAMP for entry in store.iterdir() if entry.is_dir()]
    assert stamps and all(stamp.is_file() for stamp in stamps)
    assert list(store.glob(f"*/{STAMP}.tmp-*")) == []
    assert not list(new.rglob(f"{STAMP}*"))


@pytest.mark.e2e
@pytest.mark.parametrize("same_mtime", [False, True])
def test_a_store_file_altered_behind_its_stamp_is_hashed_and_not_shared(
    built: Built, rebuilt: Built, tmp_path: Path, same_mtime: bool
) -> None:
    old, site, _ = stamped_deploys(built, rebuilt, tmp_path)
    target = old / "site-packages" / "django" / "shortcuts.py"
    original, before = target.read_bytes(), target.stat()
    target.chmod(0o644)
    target.write_bytes(original.replace(b"def render(", b"def rendeR("))  # same size
    target.chmod(before.st_mode)
    if same_mtime:  # mtime, size, mode and inode as stamped: only the ctime tells
        os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    marker, new = started_again(site)
    assert marker["hashed"] > 0
    assert not (new / "site-packages" / "django").is_symlink()
    assert_as_recorded(new, site.archive)
    assert target.read_bytes() != original


@pytest.mark.e2e
def test_a_damaged_stamp_means_hashing_again(built: Built, rebuilt: Built, tmp_path: Path) -> None:
    _, site, _ = stamped_deploys(built, rebuilt, tmp_path)
    store = tmp_path / "cache" / ".shared"
    stamps = sorted(entry / STAMP for entry in store.iterdir() if entry.is_dir())
    damages = [
        lambda content: content[: len(content) // 2],  # truncated
        lambda content: b"\x00" * 10,
        lambda content: b'{"since": "0", "files": []}',
        None,  # removed
    ]
    for number, stamp in enumerate(stamps):
        damage = damages[number % len(damages)]
        if damage is None:
            stamp.unlink()
        else:
            stamp.write_bytes(damage(stamp.read_bytes()))
    marker, _ = started_again(site)
    assert 0 < marker["hashed"] <= marker["shared"]
    result = run_archive(site, "check")
    assert result.returncode == 0, result.stderr
    # Hashed and found good: stamped again, the next start hashes nothing.
    past_the_stamps_clock_tick()
    assert started_again(site)[0]["hashed"] == 0


@pytest.mark.e2e
def test_unpacking_without_the_importers_index_gives_the_same_files(
    built: Built, tmp_path: Path
) -> None:
    """Here the boot package is imported from the source tree, not from the archive:
    zipfile reads the archive's directory, and the result is the same extraction."""
    from django_zipapp.boot.extract import hold_extraction, replace_extraction

    site = deploy(built, tmp_path)
    unpacked = extraction_of(site)  # by the archive itself, through its importer
    extraction = tmp_path / "cache" / f"other.pyz_{unpacked.name.rpartition('_')[2]}"
    replace_extraction(site.archive, extraction)
    held = hold_extraction(extraction)
    assert held is not None
    os.close(held)
    assert_as_recorded(extraction, site.archive)
    assert (
        json.loads((extraction / MARKER).read_text())["files"]
        == (json.loads((unpacked / MARKER).read_text())["files"])
    )
