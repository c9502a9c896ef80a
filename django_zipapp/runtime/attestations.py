"""What an archive says of itself for others' tools: its SBOM and its provenance statement.

Both are read from the file as it is, never unpacked: `info --sbom` and `info --provenance`
answer on a host where the site could not start. Standard library only.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

SBOM_NAME = "django_zipapp.cdx.json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
BUILD_TYPE = "https://django-zipapp.readthedocs.io/en/latest/provenance.html#buildpyz-v1"


class MissingDocument(Exception):
    """The archive was built before it carried this document."""


def stored_sbom(archive: Path) -> bytes:
    try:
        with zipfile.ZipFile(archive) as opened:
            return opened.read(SBOM_NAME)
    except KeyError:
        raise MissingDocument(
            f"{archive.name} carries no SBOM: it was built by a django-zipapp that did not "
            "make one. Build it again to get one."
        ) from None


def provenance_statement(archive: Path, build: dict[str, Any]) -> dict[str, Any]:
    """The build record as an in-toto statement with a SLSA provenance predicate."""
    git = build.get("git") or {}
    provenance = build.get("provenance") or {}
    dependencies = [
        {"name": item["name"], "digest": {"sha256": item["sha256"]}}
        for item in provenance.get("inputs", [])
    ]
    if git.get("commit"):
        source: dict[str, Any] = {"digest": {"gitCommit": git["commit"]}}
        if git.get("repository"):
            source["uri"] = f"git+{git['repository']}@{git['commit']}"
        dependencies.insert(0, source)
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": archive.name, "digest": {"sha256": file_sha256(archive)}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": _parameters(build),
                "internalParameters": {"sourceTreeClean": _clean(git)},
                "resolvedDependencies": dependencies,
            },
            "runDetails": {
                "builder": {
                    "id": BUILD_TYPE,
                    "version": provenance.get("builder")
                    or {"django-zipapp": build.get("django_zipapp")},
                },
                "metadata": {
                    "invocationId": build.get("build_id"),
                    "startedOn": _iso(build.get("built_at")),
                },
            },
        },
    }


def _parameters(build: dict[str, Any]) -> dict[str, Any]:
    keys = ("project", "version", "settings_module", "requirements", "python", "platform")
    return {key: build.get(key) for key in keys}


def _clean(git: dict[str, Any]) -> bool | None:
    dirty = git.get("dirty")
    return None if dirty is None else not dirty


def _iso(timestamp: int | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def dumps(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True)
