"""What an archive's SBOM must say: checked against the schema and the archive itself."""

from __future__ import annotations

import json
import re
import zipfile
from email.parser import HeaderParser
from pathlib import Path

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

DIST_INFO = re.compile(r"^site-packages/([^/]+)\.dist-info/METADATA$")


def packed_distributions(archive: Path) -> set[tuple[str, str]]:
    """Each distribution in the archive's site-packages, as (normalized name, version)."""
    found = set()
    with zipfile.ZipFile(archive) as opened:
        for name in opened.namelist():
            if DIST_INFO.match(name):
                metadata = HeaderParser().parsestr(opened.read(name).decode())
                found.add((normalized(metadata["Name"]), metadata["Version"]))
    return found


def check_sbom(archive: Path, sbom: bytes, project: str) -> int:
    """Assert the SBOM is valid and lists what the archive packs; its component count."""
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(sbom.decode()) is None
    document = json.loads(sbom)
    components = document["components"]
    listed = {
        (normalized(c["name"]), c["version"])
        for c in components
        if c.get("purl", "").startswith("pkg:pypi/")
    }
    assert listed == packed_distributions(archive)
    libraries = [c for c in components if c["type"] == "library"]
    assert all(c["hashes"][0]["alg"] == "SHA-256" for c in libraries)
    assert {c["name"] for c in components if c["type"] == "platform"} == {"python"}
    assert document["metadata"]["component"]["name"] == project
    return len(components)


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()
