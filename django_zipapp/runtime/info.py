"""`./site.pyz info [--json | --sbom | --provenance]`: what the archive was built from.

It reads only the build record (``django_zipapp.json`` in the archive), so it needs no
configuration: it answers on a host where the site could not start.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from .archive import Archive
from .bundle import bundled_interpreter, describe_interpreter


def run(archive: Archive, argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog=f"{archive.prog} info",
        description="Show what this archive was built from, and for which Python and platform.",
    )
    shown = parser.add_mutually_exclusive_group()
    shown.add_argument("--json", action="store_true", help="print the build record as JSON")
    shown.add_argument(
        "--sbom", action="store_true", help="print the archive's CycloneDX SBOM (JSON)"
    )
    shown.add_argument(
        "--provenance",
        action="store_true",
        help="print how the archive was built, as an in-toto statement (SLSA provenance)",
    )
    options = parser.parse_args(argv)
    if options.sbom or options.provenance:
        return _document(archive, Path(sys.argv[0]), sbom=options.sbom)
    # A bundled interpreter is recorded by the file's launcher, not in the build record.
    interpreter = bundled_interpreter(Path(sys.argv[0]))
    if options.json:
        extra = {} if interpreter is None else {"interpreter": interpreter}
        print(json.dumps({**archive.build, **extra}, indent=2, sort_keys=True))
    else:
        lines = describe(archive.build)
        lines.insert(5, f"interpreter    {describe_interpreter(interpreter)}")
        print("\n".join(lines))
    return 0


def _document(archive: Archive, path: Path, *, sbom: bool) -> int:
    from .attestations import MissingDocument, dumps, provenance_statement, stored_sbom

    try:
        if sbom:
            sys.stdout.buffer.write(stored_sbom(path))
        else:
            print(dumps(provenance_statement(path, archive.build)))
    except MissingDocument as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def _class(build: dict[str, Any]) -> str:
    configuration = build.get("configuration")
    return f" (class {configuration}, django-configurations)" if configuration else ""


def describe(build: dict[str, Any]) -> list[str]:
    distributions = build.get("distributions", {})
    lines = [
        f"project        {build.get('project')} {build.get('version') or '(no version declared)'}",
        f"build id       {build.get('build_id')}",
        f"built at       {_utc(build.get('built_at'))}",
        f"git commit     {_git(build.get('git'))}",
        f"built for      {_target(build)}",
        f"settings       {build.get('settings_module')}{_class(build)}",
        f"configuration  {build.get('config_object') or '(none)'}",
        f"environment    {_environment(build.get('environment'))}",
        f"django-zipapp  {build.get('django_zipapp')}",
        f"distributions  {len(distributions)}, from {build.get('requirements')}:",
    ]
    lines += [f"  {name} {version}" for name, version in distributions.items()]
    return lines


def _environment(names: list[str] | None) -> str:
    """The environment variables the settings read, as the build saw them load."""
    if names is None:
        return "(not recorded)"
    return ", ".join(names) if names else "(none read by the settings)"


def _utc(timestamp: int | None) -> str:
    if timestamp is None:
        return "(not recorded)"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(timestamp))


def _git(git: dict[str, Any] | None) -> str:
    if not git:
        return "(not recorded)"
    if git.get("commit") is None:
        return f"(none: {git.get('note')})"
    state = "with uncommitted changes" if git.get("dirty") else "clean"
    return f"{git['commit']} ({state})"


def _target(build: dict[str, Any]) -> str:
    native = "with compiled extensions" if build.get("native") else "pure Python"
    return (
        f"{build.get('implementation')} {build.get('python')} on {build.get('platform')} ({native})"
    )
