"""The archive under a sandboxed service's conditions, reproduced without systemd.

No HOME, a read-only root file system with only the cache and state directories
writable, an unprivileged user, many first starts at once, first starts killed half-way,
a tampered extraction, and old builds piling up.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.archives import (
    Built,
    get,
    left_packed,
    run_archive,
    running_server,
    site_env,
    wait_for_new_temporary,
)

pytestmark = pytest.mark.e2e

MARKER = ".django-zipapp-complete"

# Run as `sh -c READ_ONLY_ROOT sh WRITABLE... -- COMMAND...` inside `unshare --mount`:
# every directory before "--" stays writable, the rest of the root becomes read-only:
# "/" and the file systems that hold the writable directories (pytest's temporary
# folders may be on a tmpfs of their own, see tox.ini).
READ_ONLY_ROOT = """\
set -e
while [ "$1" != -- ]; do mount --bind "$1" "$1"; shift; done
shift
for mount in {mounts}; do mount -o remount,bind,ro "$mount"; done
exec "$@"
"""


def can_unshare() -> bool:
    command = ["unshare", "--user", "--map-root-user", "--mount", "true"]
    try:
        return subprocess.run(command, capture_output=True, timeout=30).returncode == 0
    except FileNotFoundError:
        return False


def read_only_root(*writable: Path) -> tuple[str, ...]:
    unshare = ("unshare", "--user", "--map-root-user", "--mount")
    mounts = sorted({Path("/"), *map(mount_of, writable)})
    script = READ_ONLY_ROOT.format(mounts=" ".join(shlex.quote(str(m)) for m in mounts))
    return (*unshare, "sh", "-c", script, "sh", *map(str, writable), "--")


def mount_of(path: Path) -> Path:
    """The mount point of the file system that holds path."""
    path = path.resolve()
    while not os.path.ismount(path):
        path = path.parent
    return path


def deployed(built: Built, tmp_path: Path) -> Built:
    """The archive alone in a folder of its own, with empty cache and state directories."""
    (tmp_path / "srv").mkdir()
    shutil.copy2(built.archive, tmp_path / "srv" / "site.pyz")
    for name in ("cache", "state", "tmp"):
        (tmp_path / name).mkdir()
    return Built(tmp_path / "srv" / "site.pyz", built.build_output, tmp_path)


def extractions(cache: Path) -> list[Path]:
    return sorted(path for path in cache.iterdir() if path.name.startswith("site.pyz_"))


def assert_intact(extraction: Path, archive: Path) -> None:
    with zipfile.ZipFile(archive) as zf:
        files = [i for i in zf.infolist() if i.filename.startswith("site-packages/")]
    packed = left_packed(archive)
    for info in files:
        if info.filename in packed:  # what a running site never opens
            assert not (extraction / info.filename).exists(), info.filename
        elif not info.is_dir():
            assert (extraction / info.filename).stat().st_size == info.file_size, info.filename
    assert (extraction / MARKER).is_file()


@pytest.mark.skipif(not can_unshare(), reason="unshare --user --mount is not permitted here")
def test_serves_under_a_read_only_root_without_home(built: Built, tmp_path: Path) -> None:
    site = deployed(built, tmp_path)
    # PrivateTmp= gives a service a writable /tmp; here TMPDIR plays that part.
    environment = site_env(site, TMPDIR=str(tmp_path / "tmp"))
    assert "HOME" not in environment
    wrapper = read_only_root(tmp_path / "cache", tmp_path / "state", tmp_path / "tmp")
    migrate = subprocess.run(
        [*wrapper, str(site.archive), "migrate", "--noinput"],
        env=environment, cwd="/", capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert migrate.returncode == 0, migrate.stderr
    outside = tmp_path / "srv" / "probe"
    probe = subprocess.run([*wrapper, "touch", str(outside)], capture_output=True)
    assert probe.returncode != 0  # the sandbox is real: the rest is read-only
    log = tmp_path / "serve.log"
    with running_server(site.archive, environment, log, workers=1, wrapper=wrapper) as server:
        status, _, body = get(server.base + "/")
    assert status == 200
    assert b"<h1>Notes</h1>" in body
    assert "Traceback" not in log.read_text()
    assert (tmp_path / "state" / "db.sqlite3").is_file()


def system_python() -> str | None:
    """An interpreter of the archive's version that an unprivileged user may run."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for folder in ("/usr/bin", "/usr/local/bin"):
        if os.access(f"{folder}/{version}", os.X_OK):
            return f"{folder}/{version}"
    return None


@pytest.fixture
def public_tmp() -> Iterator[Path]:
    # pytest's tmp_path is private to root; the unprivileged user must reach the archive.
    with tempfile.TemporaryDirectory(prefix="django-zipapp-nobody-") as folder:
        os.chmod(folder, 0o755)
        yield Path(folder)


@pytest.mark.skipif(os.geteuid() != 0, reason="switching to the user nobody needs root")
@pytest.mark.skipif(system_python() is None, reason="no system-wide interpreter for nobody")
def test_serves_as_an_unprivileged_user(built: Built, public_tmp: Path) -> None:
    site = deployed(built, public_tmp)
    for name in ("cache", "state", "tmp"):
        os.chown(public_tmp / name, 65534, 65534)
    environment = {**site_env(site), "PATH": "/usr/bin:/bin"}
    python = str(system_python())
    nobody = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all")
    migrate = subprocess.run(
        [*nobody, python, str(site.archive), "migrate", "--noinput"],
        env=environment, cwd="/", capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert migrate.returncode == 0, migrate.stderr
    log = public_tmp / "serve.log"
    with running_server(site.archive, environment, log, workers=1, wrapper=(*nobody, python)) as s:
        assert get(s.base + "/")[0] == 200
    (extraction,) = extractions(public_tmp / "cache")
    assert extraction.stat().st_uid == 65534


class ExtractionWatcher:
    """Names every temporary extraction directory that appears in the cache directory."""

    def __init__(self, cache: Path) -> None:
        self.cache = cache
        self.seen: set[str] = set()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._watch)
        self.thread.start()

    def _watch(self) -> None:
        while not self.stop.wait(0.005):
            self.seen.update(name for name in os.listdir(self.cache) if ".tmp-" in name)

    def close(self) -> set[str]:
        self.stop.set()
        self.thread.join()
        return self.seen


def test_concurrent_first_starts_extract_once(built: Built, tmp_path: Path) -> None:
    site = deployed(built, tmp_path)
    watcher = ExtractionWatcher(tmp_path / "cache")
    starts = [
        subprocess.Popen(
            [str(site.archive), "prepare"],
            env=site_env(site),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(16)
    ]
    results = [(p.wait(timeout=300), p.stdout, p.stderr) for p in starts]
    temporary = watcher.close()
    for code, out, err in results:
        assert out is not None and err is not None
        assert (code, err.read()) == (0, b"")
        assert out.read().startswith(b"Ready: ")
        out.close()
        err.close()
    assert len(temporary) == 1  # one extraction, which the 15 others waited for
    (extraction,) = extractions(tmp_path / "cache")
    assert_intact(extraction, site.archive)
    assert [p.name for p in (tmp_path / "cache").iterdir() if ".tmp-" in p.name] == []


def test_a_first_start_killed_anywhere_is_repaired(built: Built, tmp_path: Path) -> None:
    site = deployed(built, tmp_path)
    cache = tmp_path / "cache"
    # From before the extraction begins to after it ends; the whole process group, as
    # systemd kills a service's cgroup; the kills in the middle once it has begun.
    interrupted = 0
    for delay, once_begun in ((0.05, False), (0.0, True), (0.05, True), (0.15, True), (3.5, False)):
        before = set(os.listdir(cache)) if cache.exists() else set()
        start = subprocess.Popen(
            [str(site.archive), "prepare"], env=site_env(site), start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        if once_begun:
            wait_for_new_temporary(cache, before, start)
        time.sleep(delay)
        os.killpg(start.pid, signal.SIGKILL)
        start.wait()
        if not cache.exists():
            continue  # killed before it made its cache directory
        interrupted += any(".tmp-" in path.name for path in cache.iterdir())
        for extraction in extractions(cache):  # whatever is in place is trusted: it is whole
            assert_intact(extraction, site.archive)
    assert interrupted > 0  # at least one start was killed in the middle of extracting
    result = run_archive(site, "check")
    assert result.returncode == 0, result.stderr
    (extraction,) = extractions(cache)
    assert_intact(extraction, site.archive)
    # What the killed starts left behind is gone.
    assert [p.name for p in cache.iterdir() if p.name.startswith(".") and "-" in p.name] == []


def test_a_tampered_extraction_is_extracted_again(built: Built, tmp_path: Path) -> None:
    site = deployed(built, tmp_path)
    assert run_archive(site, "check").returncode == 0
    (extraction,) = extractions(tmp_path / "cache")
    views = extraction / "site-packages" / "notes" / "views.py"
    original = views.read_bytes()
    views.unlink()
    settings = extraction / "site-packages" / "example" / "settings.py"
    settings.write_bytes(settings.read_bytes()[:40])  # truncated
    # Below the top of site-packages: a start does not look (see test_integrity.py).
    result = run_archive(site, "prepare", "--check")
    assert result.returncode == 0, result.stderr
    assert "2 not as built" in result.stdout
    assert run_archive(site, "check").returncode == 0
    assert views.read_bytes() == original
    assert_intact(extraction, site.archive)


def test_old_builds_are_pruned_unless_in_use(built: Built, rebuilt: Built, tmp_path: Path) -> None:
    site = deployed(built, tmp_path)
    environment = site_env(site, KEEP_BUILDS="1")
    assert run_archive(site, "check", env=environment).returncode == 0
    (old,) = extractions(tmp_path / "cache")
    with running_server(site.archive, environment, tmp_path / "serve.log", workers=1):
        # Deploy the new build while the old one serves: the old extraction is in use.
        shutil.copy2(rebuilt.archive, tmp_path / "srv" / ".site.pyz.new")
        os.replace(tmp_path / "srv" / ".site.pyz.new", site.archive)
        assert run_archive(site, "check", env=environment).returncode == 0
        assert len(extractions(tmp_path / "cache")) == 2
        assert old.is_dir()
    # Stopped: the next start of the new build removes it (KEEP_BUILDS=1).
    assert run_archive(site, "check", env=environment).returncode == 0
    (new,) = extractions(tmp_path / "cache")
    assert new != old
    names = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert names == [".shared", ".shared.lock", f".{new.name}.lock", new.name]
    # The shared store keeps only what the kept build links to.
    linked = {
        os.readlink(p).split("/")[-2] for p in (new / "site-packages").iterdir() if p.is_symlink()
    }
    assert {p.name for p in (tmp_path / "cache" / ".shared").iterdir()} == linked
    marker = json.loads((new / MARKER).read_text())
    assert marker["files"] > 1000
