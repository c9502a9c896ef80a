"""Top-level modules that two owners provide: in one site-packages one hides the other.

pip installs both without a word (the second overwrites the first's files, or a package
shadows a module), and the site then fails far from the cause: django-dotenv's `dotenv.py`
beside python-dotenv's `dotenv/`, which goodconf needs through pydantic-settings.
"""

from __future__ import annotations

import importlib.metadata
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

# Names many careless distributions ship at the top level; the build drops `tests`
# folders, and a site never imports these.
IGNORED = frozenset({"tests", "test", "docs", "doc", "examples", "example", "benchmarks"})
# Ways out for collisions seen in real projects.
KNOWN_WAYS_OUT = {
    "dotenv": "django-zipapp needs python-dotenv (goodconf reads its configuration with "
    "pydantic-settings, which imports it), so replace django-dotenv: python-dotenv's "
    "`load_dotenv(BASE_DIR / '.env')` does what `dotenv.read_dotenv()` did.",
}


@dataclass(frozen=True)
class Provider:
    # A distribution, or "the project"; a distribution's name is read only when named:
    # parsing every METADATA would double the check's time.
    source: importlib.metadata.Distribution | str
    shape: str  # "module", "package" or "namespace"
    init_hash: str | None = None  # a package's __init__.py hash, as RECORD gives it
    location: str = ""  # where it is installed

    @property
    def owner(self) -> str:
        if isinstance(self.source, str):
            return self.source
        return f"{self.source.metadata['Name']} {self.source.version}"

    def describe(self, name: str) -> str:
        where = f"{name}/" if self.shape != "module" else f"{name}.py"
        return f"{self.owner} ({where})"


@dataclass(frozen=True)
class Collision:
    name: str
    providers: tuple[Provider, ...]

    def problem(self) -> str:
        owners = " and ".join(p.describe(self.name) for p in self.providers)
        return (
            f"The top-level module {self.name!r} is provided by both {owners}, so one "
            "hides the other."
        )

    def way_out(self) -> str:
        return KNOWN_WAYS_OUT.get(
            self.name,
            "Keep only one of them: remove the other from the requirements (or the "
            "requirement that brings it in), or rename the project's own module.",
        )


def installed_providers(paths: Sequence[str] | None = None) -> dict[str, list[Provider]]:
    """Who provides each top-level module among the distributions in paths (or sys.path)."""
    providers: dict[str, list[Provider]] = {}
    seen: set[str] = set()
    found = (
        importlib.metadata.distributions()
        if paths is None
        else importlib.metadata.distributions(path=list(paths))
    )
    for distribution in found:
        identity = _identity(distribution)
        if identity in seen:
            continue  # the same distribution found twice on sys.path: the first wins
        seen.add(identity)
        for module, provider in _provided(distribution).items():
            providers.setdefault(module, []).append(provider)
    return providers


def project_collisions(
    root: Path, modules: Iterable[str], providers: dict[str, list[Provider]]
) -> list[Collision]:
    """The project's own top-level modules against the installed distributions."""
    found = []
    for module in sorted(set(modules) - IGNORED):
        here = str(root / module)
        owners = [
            p
            for p in providers.get(module, [])
            # The project installed as a distribution of its own provides the same files.
            if p.shape != "namespace" and Path(p.location).resolve() != Path(here).resolve()
        ]
        if owners:
            shape = "package" if (root / module).is_dir() else "module"
            found.append(Collision(module, (Provider("the project", shape), *owners)))
    return found


def find_collisions(providers: dict[str, list[Provider]]) -> list[Collision]:
    found = []
    for name, owners in sorted(providers.items()):
        if len(owners) < 2 or name in IGNORED:
            continue
        if all(owner.shape == "namespace" for owner in owners):
            continue  # a PEP 420 namespace package, shared on purpose
        hashes = {owner.init_hash for owner in owners}
        if all(o.shape == "package" for o in owners) and len(hashes) == 1 and None not in hashes:
            continue  # pkgutil-style namespace: the same __init__.py in each
        found.append(Collision(name, tuple(owners)))
    return found


def _provided(distribution: importlib.metadata.Distribution) -> dict[str, Provider]:
    owner = distribution
    shapes: dict[str, Provider] = {}
    # RECORD read as text, not through Distribution.files: a check that runs with every
    # management command must stay cheap (a fifth of the time, over 80 distributions).
    for line in (distribution.read_text("RECORD") or "").splitlines():
        if line.count(",") < 2:
            continue
        path, digest, _ = line.rsplit(",", 2)
        top, _, inner = path.partition("/")
        if not top or top in ("..", "__pycache__") or top.endswith(".dist-info"):
            continue
        if not inner:
            module = _module_name(top)
            if module is not None:
                shapes[module] = Provider(owner, "module", location=_locate(distribution, top))
        elif not top.isidentifier():
            continue
        elif inner == "__init__.py":
            shapes[top] = Provider(owner, "package", digest or None, _locate(distribution, top))
        elif top not in shapes:
            shapes[top] = Provider(owner, "namespace", location=_locate(distribution, top))
    return shapes


def _locate(distribution: importlib.metadata.Distribution, name: str) -> str:
    return str(distribution.locate_file(name))


def _identity(distribution: importlib.metadata.Distribution) -> str:
    folder = getattr(distribution, "_path", None)  # name-version.dist-info, without parsing
    if isinstance(folder, Path):
        return _canonical(folder.name.split("-")[0])
    return _canonical(distribution.metadata["Name"] or "")


def _module_name(filename: str) -> str | None:
    # spam.py, or an extension module such as spam.cpython-312-x86_64-linux-gnu.so.
    match = re.fullmatch(r"([A-Za-z_]\w*)(?:\.[\w-]+)?\.(py|so|pyd)", filename)
    return match[1] if match else None


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()
