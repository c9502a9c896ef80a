"""The archive's software bill of materials, in CycloneDX JSON, made with CycloneDX's library.

Every distribution packed, the project, the Python the archive targets and a bundled
interpreter. Nothing in it depends on the build machine or the clock (the time is the
source date, the serial number is derived from the content), so that reproducible
builds carry byte-identical SBOMs.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import re
import sys
import uuid
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from cyclonedx.contrib.license.factories import LicenseFactory
from cyclonedx.contrib.this.builders import this_component
from cyclonedx.model import HashAlgorithm, HashType, Property
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.license import License
from cyclonedx.model.tool import ToolRepository
from cyclonedx.output.json import JsonV1Dot6
from packageurl import PackageURL

import django_zipapp

from .target import Target

SCHEMA = "1.6"
PREFIX = "django-zipapp"  # of the properties' names, as CycloneDX's taxonomy asks
# A licence declared as a whole text (older METADATA does) is no licence name.
LONGEST_NAME = 200


@dataclass(frozen=True)
class Bundled:
    """The interpreter carried in the file: a python-build-standalone tarball, or this one."""

    source: str

    def component(self, target: Target) -> Component:
        if not self.source:
            version = ".".join(str(part) for part in sys.version_info[:3])
            properties = [Property(name=f"{PREFIX}:interpreter:source", value="build machine")]
            return _interpreter(version, [], properties)
        tarball = Path(self.source).expanduser()
        source = Property(name=f"{PREFIX}:interpreter:source", value=tarball.name)
        return _interpreter(target.python, [_sha256_hash(tarball.read_bytes())], [source])


def make_sbom(
    *,
    sources: Sequence[Path],
    project: str,
    version: str | None,
    target: Target,
    built_at: int,
    bundled: Bundled | None = None,
    left_out: Collection[str] = (),
) -> bytes:
    """The SBOM of what these site-packages folders hold (the later ones win), as JSON.

    ``left_out``: names of distributions installed there that the archive does not hold.
    """
    leaving = {_normalized(name) for name in left_out}
    components = [
        _distribution(dist)
        for dist in _distributions(sources)
        if _normalized(dist.metadata["Name"]) not in leaving
    ]
    components.append(_python(target))
    if bundled is not None:
        components.append(bundled.component(target))
    application = Component(
        name=project,
        version=version,
        type=ComponentType.APPLICATION,
        bom_ref=f"{PREFIX}:project:{project}",
    )
    bom = Bom(
        components=components,
        metadata=BomMetaData(
            component=application,
            timestamp=datetime.fromtimestamp(built_at, timezone.utc),
            # The tools as components: CycloneDX 1.5 deprecated the older list of tools.
            tools=ToolRepository(components=[this_component()]),
            properties=[Property(name=f"{PREFIX}:version", value=django_zipapp.__version__)],
        ),
        serial_number=_serial(components, application),
    )
    for component in components:
        bom.register_dependency(application, [component])
    return JsonV1Dot6(bom).output_as_string(indent=2).encode() + b"\n"


def _distributions(sources: Sequence[Path]) -> list[importlib.metadata.Distribution]:
    found: dict[str, importlib.metadata.Distribution] = {}
    for source in sources:  # a later folder's copy of a name replaces an earlier one's
        for dist in importlib.metadata.distributions(path=[str(source)]):
            found[_normalized(dist.metadata["Name"])] = dist
    return [found[name] for name in sorted(found)]


def _distribution(dist: importlib.metadata.Distribution) -> Component:
    name = dist.metadata["Name"]
    purl = PackageURL(type="pypi", name=_normalized(name), version=dist.version)
    return Component(
        name=name,
        version=dist.version,
        type=ComponentType.LIBRARY,
        purl=purl,
        bom_ref=purl.to_string(),
        hashes=[_sha256_hash(_record(dist))],
        licenses=_licences(dist),
    )


def _record(dist: importlib.metadata.Distribution) -> bytes:
    # RECORD lists the SHA-256 of each of the distribution's files: its own hash pins them
    # all. The builder's own copy carries METADATA only when pip did not install it.
    text = dist.read_text("RECORD") or dist.read_text("METADATA") or ""
    return text.encode()


def _first(values: list[str] | None) -> str | None:
    return str(values[0]) if values else None


def _licences(dist: importlib.metadata.Distribution) -> list[License]:
    """The licence as the distribution declares it: an SPDX expression, a name, classifiers."""
    metadata = dist.metadata
    factory = LicenseFactory()
    # get_all, not get: the metadata's protocol has only get_all before Python 3.12.
    expression = _first(metadata.get_all("License-Expression"))
    if expression:
        return [factory.make_from_string(expression.strip())]
    declared = (_first(metadata.get_all("License")) or "").strip()
    if "\n" not in declared and 0 < len(declared) <= LONGEST_NAME and declared != "UNKNOWN":
        return [factory.make_from_string(declared)]
    classifiers = metadata.get_all("Classifier") or []
    names = sorted({c.split(" :: ")[-1] for c in classifiers if c.startswith("License ::")})
    return [factory.make_with_name(name) for name in names if name != "OSI Approved"]


def _python(target: Target) -> Component:
    described = target.describe()
    properties = [
        Property(name=f"{PREFIX}:target:{key}", value=_text(value))
        for key, value in sorted(described.items())
    ]
    return Component(
        name="python",
        version=target.python,
        type=ComponentType.PLATFORM,
        bom_ref=f"{PREFIX}:target-python",
        properties=properties,
    )


def _interpreter(version: str, hashes: list[HashType], properties: list[Property]) -> Component:
    purl = PackageURL(type="generic", name="cpython", version=version)
    return Component(
        name="cpython",
        version=version,
        type=ComponentType.APPLICATION,
        purl=purl,
        bom_ref=f"{PREFIX}:bundled-interpreter",
        hashes=hashes,
        properties=properties,
    )


def _serial(components: Iterable[Component], application: Component) -> uuid.UUID:
    """A serial number that changes with the content, and only with it."""
    listed = sorted(
        f"{c.bom_ref.value}|{c.version}|{','.join(h.content for h in c.hashes)}" for c in components
    )
    text = "\n".join([application.name, str(application.version), *listed])
    return uuid.UUID(bytes=hashlib.sha256(text.encode()).digest()[:16], version=5)


def _text(value: object) -> str:
    return " ".join(str(item) for item in value) if isinstance(value, list) else str(value)


def _sha256_hash(data: bytes) -> HashType:
    return HashType(alg=HashAlgorithm.SHA_256, content=hashlib.sha256(data).hexdigest())


def _normalized(name: str) -> str:
    # PEP 503's normal form, as the purl specification asks for pypi names.
    return re.sub(r"[-_.]+", "-", name).lower()
