"""`buildpyz --list`: what a build would put into the archive, and what it leaves out."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any

from django.conf import settings
from packaging.utils import canonicalize_name

import django_zipapp

from .build_only import (
    SELF,
    Distribution,
    app_modules,
    build_only_names,
    guessed_modules,
    imported_modules,
    installed,
    own_requirements,
)
from .dependencies import cache_key, cached_dependencies
from .files import (
    TESTS_REASON,
    Rules,
    is_test_file,
    never_packed,
    skip_reason,
    walk_shippable,
)
from .hashes import added_requirements
from .markers import oldest_environment
from .packing import default_skips
from .pip import Resolution
from .project import Project, static_sources, storage_locations
from .requirements import Requirements, runtime_requirements
from .secrets import config_files, config_instance
from .target import Target


def project_rules(project: Project, output: Path, exclude: Sequence[str]) -> Rules:
    skip = {
        **default_skips(project.root),
        output: "the archive being written",
        project.root / project.static_root: "STATIC_ROOT, collected afresh at build time",
    }
    if getattr(settings, "MEDIA_ROOT", None):
        skip[Path(settings.MEDIA_ROOT)] = "MEDIA_ROOT, uploads"
    for alias, location in storage_locations():
        skip.setdefault(location, f"STORAGES[{alias!r}], uploads")
    for source in static_sources(project.root):
        skip[source] = "a STATICFILES_DIRS source: collectstatic copied it (--include ships it)"
    skip.update(config_files(config_instance(project.config_object), project.root))
    return Rules(skip, tuple(exclude), project.root, leave_out_tests=True)


def list_contents(
    project: Project,
    found: Requirements,
    target: Target,
    *,
    output: Path,
    exclude: Sequence[str],
    write: Callable[[str], None],
    asgi: bool = False,
    cache_dir: Path | None = None,
) -> None:
    used = imported_modules(_project_sources(project)) | app_modules(settings.INSTALLED_APPS)
    _list_dependencies(found, target, write, asgi, Listed(used, cache_dir))
    _list_project(project, project_rules(project, output, exclude), write)
    _list_static(write)
    write(
        "Written by the build: django_zipapp.json (the build record), _django_zipapp_boot/, "
        "shiv's _bootstrap/ and environment.json, and the static index _zipapp/static.json."
    )


@dataclass(frozen=True)
class Listed:
    """What the listing needs to tell what only the build needs (see build_only.py)."""

    used_modules: set[str]
    cache_dir: Path | None


def _list_dependencies(
    found: Requirements,
    target: Target,
    write: Callable[[str], None],
    asgi: bool,
    listed: Listed,
) -> None:
    described = target.describe()
    write(
        f"Dependencies from {found.described}, as pip resolves them for "
        f"{described['implementation']} {described['python']} on {described['platform']}:"
    )
    with tempfile.TemporaryDirectory(prefix="buildpyz-list-") as staging:
        pip_args = [
            *found.install_args(Path(staging)),
            *added_requirements(found, runtime_requirements(asgi)),
        ]
        resolved = Resolution(
            pip_args, cwd=found.source.parent, target_args=target.pip_args(), python=target.python
        )
        items = sorted(resolved.result(), key=_name)
    leaving = _build_only(items, target, runtime_requirements(asgi), listed)
    for item in items:
        name, version = item["metadata"]["name"], item["metadata"]["version"]
        if canonicalize_name(name) in leaving:
            write(f"  - {name} {version}  (only the build needs it)")
        else:
            write(f"  + {name} {version}")
    if not any(_name(item) in ("django-zipapp", "django_zipapp") for item in items):
        write(f"  + django-zipapp {django_zipapp.__version__} (the copy running this build)")


def _build_only(
    items: list[dict[str, Any]], target: Target, runtime: Sequence[str], listed: Listed
) -> set[str]:
    """What the build leaves out of these resolved distributions.

    pip's report names no modules: those of the installed dependencies, when the cache
    holds them, else guessed from the distributions' names.
    """
    installed_modules: dict[str, frozenset[str]] = {}
    entry = None if listed.cache_dir is None else _cache_entry(items, target, listed.cache_dir)
    if entry is not None:
        installed_modules = {name: dist.modules for name, (dist, _) in installed(entry).items()}
    distributions: dict[str, Distribution] = {}
    for item in items:
        name = canonicalize_name(item["metadata"]["name"])
        modules = installed_modules.get(name) or guessed_modules(item["metadata"]["name"])
        requires = tuple(item["metadata"].get("requires_dist", ()))
        distributions[name] = Distribution(item["metadata"]["name"], requires, modules)
    return build_only_names(
        distributions,
        roots=own_requirements(distributions.get(SELF)),
        runtime=runtime,
        environment=oldest_environment(target.python),
        used_modules=listed.used_modules,
    )


def _cache_entry(items: list[dict[str, Any]], target: Target, cache_dir: Path) -> Path | None:
    key = cache_key(items, target)
    return None if key is None else cached_dependencies(cache_dir.expanduser(), key)


def _project_sources(project: Project) -> list[Path]:
    sources = []
    for name in project.copied_packages:
        path = project.root / name
        sources += sorted(path.rglob("*.py")) if path.is_dir() else [path.with_suffix(".py")]
    return sources


def _list_project(project: Project, rules: Rules, write: Callable[[str], None]) -> None:
    write(f"Project files from {project.root}:")
    roots = [
        *project.copied_packages,
        *(str(path) for path in (*project.data_dirs, *project.data_files, *project.includes)),
    ]

    def skipped(path: Path, reason: str) -> None:
        folder = "/" if path.is_dir() else ""
        write(f"  - {_relative(path, project.root)}{folder}  ({reason})")

    for name in roots:
        source = project.root / name
        # Paths included on purpose ship whole, tests too, as the build copies them.
        included = PurePosixPath(name) in project.includes
        if source.is_file():
            reason = None if included else skip_reason(source, rules)
            write(f"  + {name}" if reason is None else f"  - {name}  ({reason})")
            continue
        if not source.is_dir():
            write(f"  + {name}.py")
            continue
        walked = replace(rules, leave_out_tests=False) if included else rules
        for path in walk_shippable(source, rules=walked, on_skip=skipped):
            write(f"  + {_relative(path, project.root)}")
    packages = roots[: len(project.copied_packages)]
    shipped = {PurePosixPath(name).parts[0] for name in packages}
    shipped |= {p.parts[0] for p in (*project.data_dirs, *project.data_files, *project.includes)}
    for path in sorted(project.root.iterdir()):
        if path.name not in shipped and not (path.suffix == ".py" and path.stem in shipped):
            folder = "/" if path.is_dir() else ""
            reason = "not a package the site imports, nor a data directory the settings name"
            kind = never_packed(path) if path.is_dir() else None
            if kind is not None:
                reason = f"{kind}: never packed"
            elif is_test_file(path):
                reason = TESTS_REASON
            else:
                reason = rules.resolved().skip.get(path.resolve(), reason)
            write(f"  - {path.name}{folder}  ({reason})")


def _list_static(write: Callable[[str], None]) -> None:
    from django.contrib.staticfiles.finders import get_finders

    write("Static files that collectstatic gathers (compressed and indexed in the archive):")
    # collectstatic's own default ignore patterns.
    found = {path for finder in get_finders() for path, _ in finder.list(["CVS", ".*", "*~"])}
    for path in sorted(found):
        write(f"  + {path}")


def _relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def _name(item: dict[str, Any]) -> str:
    return str(item["metadata"]["name"]).lower()
