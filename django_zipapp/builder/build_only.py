"""What only the build needs: the distributions the archive leaves out.

django-zipapp's requirements serve two rooms. The runtime needs Django, dj-database-url,
goodconf, gunicorn and whitenoise (RUNTIME_REQUIREMENTS); the builder needs shiv, pip,
cyclonedx-python-lib, packaging and the rest of setup.cfg's install_requires. A project
that lists django-zipapp in its requirements (it is in INSTALLED_APPS, and `pip freeze`
pins everything it pulled in) would carry the builder's too: pip alone is a thousand
files and folders that every cold start unpacks, and nothing in the archive imports it.

The build-only roots are django-zipapp's own requirements, read from its metadata, minus
what the runtime needs: a release that adds a build dependency is covered without a list
to keep in step. What they reach is left out, unless the archive still needs it: a
distribution that stays requires it, or the project's code imports one of its modules, or
INSTALLED_APPS names one. With `pip freeze` every distribution is a requirement of the
project, so naming one there is no sign that the site uses it; importing it is.
"""

from __future__ import annotations

import importlib.metadata
import re
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import InvalidMarker, UndefinedComparison, UndefinedEnvironmentName
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from .markers import oldest_environment

SELF = "django-zipapp"
# `import x`, `import x.y as z, w`, `from x import y` at the start of a line; a match in a
# string only keeps a distribution that could have been left out.
_IMPORT = re.compile(r"^[ \t]*(?:from[ \t]+([A-Za-z_]\w*)|import[ \t]+([A-Za-z_][\w. \t,]*))", re.M)
_NOT_MODULES = (".dist-info", ".data", ".egg-info", ".pth")
_EXTRA = re.compile(r"""\bextra\s*==\s*["']([^"']+)["']""")


@dataclass(frozen=True)
class Distribution:
    """What the selection needs to know of an installed (or resolved) distribution."""

    name: str  # as its metadata spells it
    requires: tuple[str, ...]  # its Requires-Dist lines
    modules: frozenset[str]  # the top-level modules it installs


@dataclass(frozen=True)
class BuildOnly:
    """The distributions left out of an archive, and their files in site-packages."""

    names: tuple[str, ...] = ()  # sorted, as their metadata spells them
    files: frozenset[str] = frozenset()  # paths relative to site-packages
    entries: frozenset[str] = frozenset()  # top-level entries left out as a whole

    def summary(self) -> str | None:
        if not self.names:
            return None
        return (
            f"Leaving out what only the build needs: {', '.join(self.names)} "
            f"({len(self.files)} files)"
        )


NOTHING_LEFT_OUT = BuildOnly()


def build_only_names(
    distributions: Mapping[str, Distribution],
    *,
    roots: Iterable[str],
    runtime: Iterable[str],
    environment: Mapping[str, str],
    used_modules: Collection[str],
) -> set[str]:
    """The canonical names, among distributions (by canonical name), to leave out.

    ``roots``: the builder's requirements; ``runtime``: what the archive needs besides the
    project's requirements; ``used_modules``: top-level modules the project imports or
    INSTALLED_APPS names.
    """
    candidates = _reach(roots, distributions, environment)
    candidates -= _reach(runtime, distributions, environment) | {SELF}
    used = {name for name in candidates if distributions[name].modules & set(used_modules)}
    # django-zipapp's own needs in the archive are the runtime's, not its Requires-Dist.
    staying = [*runtime, *(n for n in distributions if n not in candidates and n != SELF)]
    evident = _evident_extras(distributions, environment, candidates)
    kept = _reach([*staying, *used], distributions, environment, evident)
    return candidates - kept


def _evident_extras(
    distributions: Mapping[str, Distribution],
    environment: Mapping[str, str],
    candidates: Collection[str],
) -> dict[str, frozenset[str]]:
    """The extras of each distribution that its installed neighbours show were asked for.

    A project's ``celery[redis]`` reaches ``kombu[redis]``, which adds redis and packaging;
    the extra is not in kombu's metadata, only in what pip installed. An extra counts when
    every distribution it adds is installed and one of them is not the builder's own
    (whitenoise[brotli], asked for by django-zipapp alone, does not count).
    """
    evident = {}
    for name, dist in distributions.items():
        found = frozenset(
            extra
            for extra in _extras(dist)
            if _shown(_added(dist, extra, environment), distributions, candidates)
        )
        if found:
            evident[name] = found
    return evident


def _extras(dist: Distribution) -> set[str]:
    return {extra for line in dist.requires for extra in _EXTRA.findall(line)}


def _added(dist: Distribution, extra: str, environment: Mapping[str, str]) -> list[str]:
    added: list[str] = []
    for line in dist.requires:
        requirement = _requirement(line)
        if requirement is None or requirement.marker is None:
            continue
        with_extra = _applies(requirement, environment, frozenset({extra}))
        if with_extra and not _applies(requirement, environment, frozenset()):
            added.append(canonicalize_name(requirement.name))
    return added


def _shown(
    added: list[str], installed: Mapping[str, Distribution], candidates: Collection[str]
) -> bool:
    return (
        bool(added)
        and all(name in installed for name in added)
        and any(name not in candidates for name in added)
    )


def _reach(
    requirements: Iterable[str],
    distributions: Mapping[str, Distribution],
    environment: Mapping[str, str],
    evident: Mapping[str, frozenset[str]] | None = None,
) -> set[str]:
    """The installed distributions these requirements need, directly or not (with the
    extras each is asked for, and those evident from what is installed)."""
    reached: set[str] = set()
    pending = [_parsed(text) for text in requirements if _wanted(text, environment)]
    seen: set[tuple[str, frozenset[str]]] = set()
    while pending:
        name, extras = pending.pop()
        if (name, extras) in seen or name not in distributions:
            continue
        seen.add((name, extras))
        reached.add(name)
        extras |= (evident or {}).get(name, frozenset())
        for line in distributions[name].requires:
            requirement = _requirement(line)
            if requirement is not None and _applies(requirement, environment, extras):
                key = canonicalize_name(requirement.name)
                pending.append((key, frozenset(requirement.extras)))
    return reached


def _parsed(text: str) -> tuple[str, frozenset[str]]:
    requirement = _requirement(text)
    if requirement is None:  # a bare name, as the callers pass distributions
        return canonicalize_name(text), frozenset()
    return canonicalize_name(requirement.name), frozenset(requirement.extras)


def _wanted(text: str, environment: Mapping[str, str]) -> bool:
    requirement = _requirement(text)
    return requirement is None or _applies(requirement, environment, frozenset())


def _requirement(line: str) -> Requirement | None:
    try:
        return Requirement(line)
    except InvalidRequirement:
        return None


def _applies(
    requirement: Requirement, environment: Mapping[str, str], extras: frozenset[str]
) -> bool:
    if requirement.marker is None:
        return True
    try:
        return any(
            requirement.marker.evaluate({**environment, "extra": extra})
            for extra in ("", *sorted(extras))
        )
    except (InvalidMarker, UndefinedComparison, UndefinedEnvironmentName):
        return True  # kept: it cannot be judged


def own_requirements(installed: Distribution | None) -> tuple[str, ...]:
    """django-zipapp's requirements without extras: the copy the archive gets, else this one.

    Its extras (sign, asgi) are left alone: a project asks for them on purpose.
    """
    if installed is not None:
        requires: Iterable[str] = installed.requires
    else:
        try:
            requires = importlib.metadata.requires(SELF) or ()
        except importlib.metadata.PackageNotFoundError:
            return ()  # run from a bare source folder: nothing is known to be build-only
    return tuple(line for line in requires if "extra ==" not in line)


def installed(site_packages: Path) -> dict[str, tuple[Distribution, frozenset[str]]]:
    """Each distribution in site_packages by canonical name, with its files there."""
    found: dict[str, tuple[Distribution, frozenset[str]]] = {}
    for dist_info in sorted(site_packages.glob("*.dist-info")):
        dist = importlib.metadata.PathDistribution(dist_info)
        name = dist.metadata["Name"]
        if not name:
            continue
        files = _files(site_packages, dist_info)
        modules = _modules(dist, files)
        described = Distribution(name, tuple(dist.requires or ()), modules)
        found[canonicalize_name(name)] = (described, files)
    return found


def _files(site_packages: Path, dist_info: Path) -> frozenset[str]:
    record = dist_info / "RECORD"
    lines = record.read_text(encoding="utf-8").splitlines() if record.is_file() else []
    listed = {line.rsplit(",", 2)[0] for line in lines if line}
    listed = {path for path in listed if not path.startswith("../")}
    own = {path.relative_to(site_packages).as_posix() for path in dist_info.rglob("*")}
    return frozenset(path for path in listed | own if (site_packages / path).is_file())


def guessed_modules(name: str) -> frozenset[str]:
    """A distribution's modules by its name, when it is not installed: cyclonedx-python-lib
    installs cyclonedx, boolean.py boolean."""
    canonical = canonicalize_name(name)
    return frozenset({canonical.replace("-", "_"), re.split(r"[-.]", canonical)[0]})


def _modules(dist: importlib.metadata.Distribution, files: Iterable[str]) -> frozenset[str]:
    top_level = dist.read_text("top_level.txt")
    if top_level:
        return frozenset(line.strip() for line in top_level.splitlines() if line.strip())
    modules = set()
    for path in files:
        first = path.split("/", 1)[0]
        if first.endswith(_NOT_MODULES) or first == "__pycache__":
            continue
        modules.add(first.split(".", 1)[0] if "/" not in path else first)
    return frozenset(modules)


def left_out(
    site_packages: Path,
    distributions: Mapping[str, tuple[Distribution, frozenset[str]]],
    names: Collection[str],
) -> BuildOnly:
    """The files of these distributions, and the top-level entries that hold nothing else."""
    files = frozenset(f for name in names for f in distributions[name][1])
    kept_tops = {
        path.split("/", 1)[0]
        for name, (_, owned) in distributions.items()
        if name not in names
        for path in owned
    }
    tops = {path.split("/", 1)[0] for path in files} - kept_tops
    entries = frozenset(top for top in tops if _only_these(site_packages / top, files))
    spelled = sorted((distributions[name][0].name for name in names), key=str.lower)
    return BuildOnly(tuple(spelled), files, entries)


def _only_these(entry: Path, files: frozenset[str]) -> bool:
    if entry.is_file():
        return entry.name in files
    root = entry.parent
    return all(
        path.relative_to(root).as_posix() in files or path.suffix == ".pyc"
        for path in entry.rglob("*")
        if not path.is_dir()
    )


def imported_modules(sources: Iterable[Path]) -> set[str]:
    """The top-level modules these Python files import."""
    modules = set()
    for path in sources:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for match in _IMPORT.finditer(text):
            modules |= _names(match)
    return modules


def _names(match: re.Match[str]) -> set[str]:
    if match[1]:
        return {match[1]}
    names = set()
    for part in match[2].split(","):
        words = part.split()
        if words:
            names.add(words[0].split(".", 1)[0])
    return names


def project_sources(site_packages: Path, skip: Collection[str]) -> Iterator[Path]:
    """The project's Python files staged in site_packages, outside the entries in skip."""
    for entry in sorted(site_packages.iterdir()):
        if entry.name in skip:
            continue
        if entry.suffix == ".py":
            yield entry
        elif entry.is_dir():
            yield from sorted(entry.rglob("*.py"))


def app_modules(installed_apps: Sequence[str]) -> set[str]:
    return {app.split(".", 1)[0] for app in installed_apps}


def select(
    dependencies: Path,
    project: Path,
    *,
    runtime: Sequence[str],
    python: str,
    installed_apps: Sequence[str],
) -> BuildOnly:
    """What to leave out of the dependencies installed in dependencies, for an archive
    of the project staged in project (before django_zipapp is copied there)."""
    found = installed(dependencies)
    used = imported_modules(project_sources(project, skip={"django_zipapp"}))
    distributions = {name: described for name, (described, _) in found.items()}
    names = build_only_names(
        distributions,
        roots=own_requirements(distributions.get(SELF)),
        runtime=runtime,
        environment=oldest_environment(python),
        used_modules=used | app_modules(installed_apps),
    )
    return left_out(dependencies, found, names)
