"""The project's dependencies, installed once per resolution and reused by later builds.

A cache entry is a folder named after the key of what pip resolved (each distribution's
name, version and archive hash), the target interpreter and platform, and pip's version.
It is written under a temporary name and renamed into place when complete, so a reader
never sees half an entry, and entries are never changed afterwards.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .errors import BuildError
from .pip import Resolution, pip_install, pip_version
from .requirements import RUNTIME_REQUIREMENTS, Requirements
from .target import Target

# Bumped whenever what an entry holds changes, so older entries are never reused.
CACHE_FORMAT = 1
CACHE_SUBDIR = "django-zipapp-build"
PARTIAL_PREFIX = ".partial-"
# An interrupted build leaves its partial entry behind; a later build removes it once no
# build could still be writing it.
STALE_PARTIAL_SECONDS = 6 * 3600
# Directory names of dependencies' own test suites: never needed by the site.
TEST_DIRS = frozenset({"tests"})


def default_cache_dir(environ: Mapping[str, str] = os.environ) -> Path:
    xdg = environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"
    return base / CACHE_SUBDIR


def stage_dependencies(
    site_packages: Path,
    pip_args: Sequence[str],
    *,
    cwd: Path,
    target: Target,
    cache_dir: Path | None,
    resolution: Resolution | None,
    report: Callable[[str], None],
    echo: Callable[[str], None] | None,
) -> Path:
    """The folder that holds the installed dependencies: a cache entry, or site_packages.

    A cache entry is used where it is, read only: builds never write into it.
    """
    resolved = resolution.result() if resolution is not None else None
    if resolution is not None and resolution.extra:
        report(
            "Adding what the requirements need on an older release of Python "
            f"{target.python}, which the archive also runs on: {', '.join(resolution.extra)}"
        )
        pip_args = [*pip_args, *resolution.extra]
    key = None if resolved is None else cache_key(resolved, target)
    if cache_dir is None or key is None:
        if cache_dir is not None and resolved is not None:
            report(
                "Note: a requirement is a local folder or a VCS checkout, whose content has "
                "no hash, so the dependencies are installed afresh and not cached"
            )
        _install(site_packages, pip_args, cwd, target, echo)
        return site_packages
    cached = cached_dependencies(cache_dir, key)
    if cached is None:
        cached = _fill_entry(cache_dir / key, resolved or [], pip_args, cwd, target, echo, report)
    report(f"Using the installed dependencies {key[:12]} from {cache_dir}")
    return cached


def cached_dependencies(cache_dir: Path, key: str) -> Path | None:
    """The installed dependencies of the cache entry named key, if it is complete."""
    # Only a complete entry has its site-packages: it is renamed into place whole.
    site_packages = cache_dir / key / "site-packages"
    return site_packages if site_packages.is_dir() else None


# The entry each set of requirements last resolved to: the build starts with it while pip
# resolves, and starts again when pip's answer differs (see build_pyz).
PREVIOUS_SUBDIR = "previous"
# A record not written again for this long (each build with those requirements writes
# it) is of requirements nobody builds any more: it is removed.
PREVIOUS_MAX_AGE = 30 * 24 * 3600


def requirements_key(
    found: Requirements, target: Target, runtime: tuple[str, ...] = RUNTIME_REQUIREMENTS
) -> str:
    """What names the requirements: their text and files, pip's settings, the target.

    Only a guess rests on it (see build_pyz): pip's configuration files are left out.
    """
    named = [*found.files]
    settings = {name: value for name, value in os.environ.items() if name.startswith("PIP_")}
    for name in ("PIP_CONSTRAINT", "PIP_REQUIREMENT"):
        named += [Path(part) for part in settings.get(name, "").split()]
    contents: list[str | None] = []
    for path in named:
        try:
            contents.append(hashlib.sha256(path.read_bytes()).hexdigest())
        except OSError:
            contents.append(None)
    payload = {
        "arguments": found.flattened if found.flattened is not None else list(found.pip_args),
        "files": contents,
        "pip": settings,
        "runtime": list(runtime),
        "target": target.pip_args(),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


def previous_entry(cache_dir: Path, requirements: str) -> Path | None:
    """The installed dependencies the same requirements resolved to last, if still cached."""
    try:
        key = (cache_dir / PREVIOUS_SUBDIR / requirements).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    if not re.fullmatch(r"[0-9a-f]{32}", key):
        return None
    return cached_dependencies(cache_dir, key)


def remember_entry(cache_dir: Path, requirements: str, dependencies: Path) -> None:
    """Record which entry the requirements resolved to, when it is a cache entry."""
    if dependencies.parent.parent != cache_dir:
        return
    folder = cache_dir / PREVIOUS_SUBDIR
    try:
        folder.mkdir(parents=True, exist_ok=True)
        temporary = folder / f".{requirements}.{os.getpid()}"
        temporary.write_text(dependencies.parent.name, encoding="utf-8")
        os.replace(temporary, folder / requirements)
        cutoff = time.time() - PREVIOUS_MAX_AGE
        for record in folder.iterdir():
            if record.stat().st_mtime < cutoff:
                record.unlink(missing_ok=True)
    except OSError:
        pass  # a cache that cannot be written only makes the next build slower


def cache_key(resolved: list[dict[str, Any]], target: Target) -> str | None:
    """The key of a resolution, or None when a requirement has no fixed content."""
    distributions = []
    for item in resolved:
        archive = item.get("download_info", {}).get("archive_info")
        hashes = (archive or {}).get("hashes") or {}
        digest = (archive or {}).get("hash")
        if not (hashes or digest):
            return None  # a local folder or a VCS checkout: its content has no hash
        name = _canonical(item["metadata"]["name"])
        distributions.append([name, item["metadata"]["version"], digest, sorted(hashes.items())])
    payload = {
        "format": CACHE_FORMAT,
        "distributions": sorted(distributions),
        "target": target.pip_args(),
        "builder": [sys.implementation.cache_tag, sysconfig.get_platform(), pip_version()],
    }
    encoded = json.dumps(payload, sort_keys=True).encode()
    return hashlib.sha256(encoded).hexdigest()[:32]


def _fill_entry(
    entry: Path,
    resolved: list[dict[str, Any]],
    pip_args: Sequence[str],
    cwd: Path,
    target: Target,
    echo: Callable[[str], None] | None,
    report: Callable[[str], None],
) -> Path:
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(prefix=PARTIAL_PREFIX, dir=entry.parent))
    except OSError as exc:
        raise BuildError(
            f"The dependency cache {str(entry.parent)!r} cannot be written "
            f"({exc.strerror or exc}). Point --cache-dir or ZIPAPP_CACHE_DIR at a writable "
            "directory, or build with --no-cache."
        ) from None
    _remove_stale_partials(entry.parent)
    try:
        _install(partial / "site-packages", pip_args, cwd, target, echo)
        _check_installed(partial / "site-packages", resolved)
        (partial / "resolved.json").write_text(json.dumps(resolved, indent=1, sort_keys=True))
        try:
            partial.rename(entry)
        except OSError:
            if cached_dependencies(entry.parent, entry.name) is None:
                raise
            # Another build stored the same entry meanwhile: the same content.
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return entry / "site-packages"


def _install(
    site_packages: Path,
    pip_args: Sequence[str],
    cwd: Path,
    target: Target,
    echo: Callable[[str], None] | None,
) -> None:
    pip_install(site_packages, pip_args, cwd=cwd, echo=echo, target_args=target.pip_args())
    tidy_installed(site_packages)


def _check_installed(site_packages: Path, resolved: list[dict[str, Any]]) -> None:
    expected = {(_canonical(i["metadata"]["name"]), i["metadata"]["version"]) for i in resolved}
    stems = [path.name[: -len(".dist-info")] for path in site_packages.glob("*.dist-info")]
    installed = {
        (_canonical(name), version) for name, _, version in (s.rpartition("-") for s in stems)
    }
    if installed != expected:
        # The index changed between resolving and installing: store nothing under a key
        # that does not describe the content.
        raise BuildError(
            "pip installed other versions than it had resolved moments before (the package "
            f"index changed meanwhile): {sorted(installed ^ expected)}. Build again."
        )


def tidy_installed(site_packages: Path) -> None:
    """Leave out what pip writes about the build machine, and dependencies' tests."""
    # Console scripts carry the build machine's interpreter path; the archive has its own
    # entry point and never runs them.
    shutil.rmtree(site_packages / "bin", ignore_errors=True)
    for dist_info in site_packages.glob("*.dist-info"):
        # direct_url.json holds the absolute path or URL the requirement came from.
        (dist_info / "direct_url.json").unlink(missing_ok=True)
    for directory, dirnames, _ in os.walk(site_packages):
        for name in [name for name in dirnames if name in TEST_DIRS]:
            shutil.rmtree(Path(directory, name))
            dirnames.remove(name)
    for dist_info in site_packages.glob("*.dist-info"):
        _rewrite_record(site_packages, dist_info / "RECORD")
    normalize_modes(site_packages)


def _rewrite_record(site_packages: Path, record: Path) -> None:
    if not record.is_file():
        return
    kept = [
        line
        for line in record.read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("../") and (site_packages / line.split(",")[0]).exists()
    ]
    record.write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")


def normalize_modes(root: Path) -> None:
    """0644, or 0755 for executables: the build machine's umask stays out of the archive."""
    for directory, _, filenames in os.walk(root):
        for name in filenames:
            path = Path(directory, name)
            mode = path.lstat().st_mode
            if stat.S_ISREG(mode):
                path.chmod(0o755 if mode & stat.S_IXUSR else 0o644)


def _remove_stale_partials(cache_dir: Path) -> None:
    cutoff = time.time() - STALE_PARTIAL_SECONDS
    for partial in cache_dir.glob(f"{PARTIAL_PREFIX}*"):
        try:
            if partial.stat().st_mtime < cutoff:
                shutil.rmtree(partial, ignore_errors=True)
        except OSError:
            pass


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()
