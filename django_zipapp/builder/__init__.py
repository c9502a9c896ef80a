"""Building an archive. Usable from a script once Django is set up:

django.setup()
result = build_pyz(output=Path("site.pyz"))
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

import django_zipapp
from django_zipapp.collisions import find_collisions, installed_providers
from django_zipapp.conf import default_shebang
from django_zipapp.processes import DeclarationError, declared_processes

from ..boot.names import BOOT_MODULE
from ..literals import published_keys
from ..runtime.attestations import SBOM_NAME, file_sha256, stored_sbom
from ..runtime.safety import PUBLISHED_KEYS_NAME
from ..runtime.static import ROOT_FILES_DIR, STATIC_INDEX_NAME

# First of the builder's own modules: inside an archive, it refuses with a clear message.
from . import outside_archive  # noqa: F401
from .build_only import BuildOnly
from .build_only import select as select_build_only
from .bundle import write_bundle
from .class_settings import configuration_class
from .commands import parse_command, run_build_commands
from .crawl import file_prefixes
from .dependencies import (
    default_cache_dir,
    normalize_modes,
    previous_entry,
    remember_entry,
    requirements_key,
    stage_dependencies,
)
from .environment import Observation
from .errors import BuildError
from .files import Rules, copy_file, copy_self, copy_tree, skip_reason
from .floors import refuse_pins_below_floors
from .hashes import added_requirements
from .interpreter import check_source, prepare_interpreter
from .left_out import left_out_hint, missing_module_hint
from .listing import list_contents, project_rules
from .packed import unpacked_language
from .packing import LeftOut
from .pip import Resolution, can_report
from .project import FALLBACK_STATIC_ROOT, Project, find_project
from .provenance import (
    builder_versions,
    git_state,
    git_top_level,
    has_native_code,
    input_digests,
    project_version,
    source_date,
)
from .replacing import replacing
from .reproducible import build_twice
from .requirements import (
    Requirements,
    find_requirements,
    runtime_requirements,
)
from .sbom import SCHEMA as SBOM_SCHEMA
from .sbom import Bundled, make_sbom
from .secrets import config_instance, known_secrets, packed_files, refuse, scan
from .settings_defaults import configuration_note, settings_module_note
from .shiv import write_archive
from .signing import SigningKey, sign_file
from .static import (
    collect_root_files,
    collect_static,
    missing_static_dirs,
    static_index,
    static_sources,
    static_storage_class,
    uncollected_files,
    write_static_index,
)
from .static_cache import CompressionCache
from .target import Target, make_target
from .verify import can_run_here, request_headers, throwaway_secret_keys, verify_archive
from .verify_commands import VerificationFailed
from .verify_databases import sqlite_stand_in_hint, sqlite_variable

__all__ = [
    "BuildError",
    "BuildResult",
    "build_pyz",
    "check_reproducible",
    "default_cache_dir",
    "list_build",
    "settings_default_notes",
]

BUILD_INFO_FORMAT = 1


@dataclass(frozen=True)
class BuildResult:
    path: Path
    size: int
    sha256: str
    build_id: str


def _quiet(message: str) -> None:
    pass


def build_pyz(
    *,
    output: Path,
    requirements: str | None = None,
    shebang: str | None = None,
    compressed: bool = True,
    config_object: str | None = None,
    report: Callable[[str], None] = _quiet,
    pip_echo: Callable[[str], None] | None = None,
    # The project's layout and build steps.
    includes: Sequence[str] = (),
    build_commands: Sequence[str | Sequence[str]] = (),
    # Targets, exclusions and the dependency cache.
    platforms: Sequence[str] = (),
    python_version: str | None = None,
    exclude: Sequence[str] = (),
    cache_dir: Path | None = None,
    use_cache: bool = True,
    # The site's workers and scheduled jobs (django_zipapp.processes).
    workers: Mapping[str, Any] | None = None,
    jobs: Mapping[str, Any] | None = None,
    # None: a plain archive; "": bundle the running interpreter; else a tarball's path.
    bundle_python: str | None = None,
    # The ASGI worker packed too (ZIPAPP_ASGI): serve then runs the site under ASGI.
    asgi: bool = False,
    # The last step: the new archive started as production would.
    verify: bool = True,
    verify_urls: Sequence[str] = ("/",),
    verify_env: Mapping[str, str] | None = None,
    # Documents written beside the archive: its SBOM, its minisign signature.
    sbom_file: Path | None = None,
    sign_with: SigningKey | None = None,
) -> BuildResult:
    output = output.resolve()
    if output.is_dir():
        raise BuildError(f"The output {str(output)!r} is a directory; give a file name.")
    if not output.parent.is_dir():
        raise BuildError(f"The output's directory {str(output.parent)!r} does not exist.")
    with _settings_errors_as_build_errors():
        target = make_target(platforms, python_version)
        if bundle_python is not None:
            check_source(bundle_python, target.python)
        project = find_project(settings, config_object, includes)
        found = find_requirements(project.root, requirements)
        refuse_pins_below_floors(found, runtime_requirements(asgi))
        static_storage_class()
        processes = _processes(workers, jobs)
        report(f"Project {project.name!r} in {project.root} (settings {project.settings_module})")
        _report_settings_default(project, report)
        _report_config(project, report)
        built_at = source_date(project.root)
        # Without pip's resolution report there is no key that cannot go stale.
        cache_root = (
            (cache_dir or default_cache_dir()).expanduser().resolve() if use_cache else None
        )
        cache = cache_root if can_report() else None
        with tempfile.TemporaryDirectory(prefix="buildpyz-") as staging:
            pip_args = [
                *found.install_args(Path(staging)),
                *added_requirements(found, runtime_requirements(asgi)),
            ]
            # Also without a cache: the resolution names what an older release of the
            # archive's Python needs besides (see markers.py).
            resolution = _resolve(found, pip_args, target) if can_report() else None
            # Where a deploy script would not pick it up, until it is verified.
            pending = output.with_name(f".{output.name}.{os.getpid()}.unverified")
            # Which environment variables the settings read, found meanwhile.
            observation = Observation(
                project.settings_module, project.config_object, project.module_names
            )
            try:
                site_packages = Path(staging, "site-packages")
                # pip resolves the dependencies meanwhile.
                _collect_static(project, site_packages, built_at, cache_root, report)
                _run_build_commands(
                    project, site_packages, built_at, cache_root, build_commands, report
                )
                _copy_project(project, site_packages, output, exclude, report)
                _refuse_secrets(project, site_packages, report)
                _record_published_keys(project, site_packages)
                # The requirements' previous resolution, while pip resolves them again.
                requirements = requirements_key(found, target, runtime_requirements(asgi))
                guess = None
                if cache is not None and resolution is not None:
                    guess = previous_entry(cache, requirements)
                if guess is None:
                    dependencies = _install_dependencies(
                        Path(staging), found, pip_args, target, cache, resolution, report,
                        pip_echo,
                    )  # fmt: skip
                    resolution = None
                else:
                    report(
                        f"Using the dependencies {guess.parent.name[:12]} from {cache}, which "
                        f"{found.described} resolved to last; pip resolves it meanwhile"
                    )
                    dependencies = guess
                variables = observation.names()
                finish = partial(
                    _finish, project, found, site_packages, pending, output, staging, shebang,
                    compressed, built_at, processes, cache, target, bundle_python, verify,
                    verify_urls, verify_env or {}, variables, runtime_requirements(asgi), report,
                )  # fmt: skip
                if guess is None:
                    build_id = finish(dependencies)
                else:
                    build_id, dependencies = _finish_with_guess(
                        finish, guess, site_packages, report,
                        lambda: stage_dependencies(
                            Path(staging, "dependencies"), pip_args, cwd=found.source.parent,
                            target=target, cache_dir=cache, resolution=resolution,
                            report=report, echo=pip_echo,
                        ),
                    )  # fmt: skip
                    resolution = None
                if cache is not None:
                    remember_entry(cache, requirements, dependencies)
                os.replace(pending, output)
                _beside(output, sbom_file, sign_with, report)
            finally:
                observation.cancel()
                if resolution is not None:
                    resolution.cancel()
                pending.unlink(missing_ok=True)
        return BuildResult(output, output.stat().st_size, file_sha256(output), build_id)


def check_reproducible(
    *, manage: Path, arguments: Sequence[str], requirements: str | None = None
) -> list[str]:
    """Build twice in separate copies of the repository (else of the folder that holds
    manage.py and the requirements); what differs, with its cause."""
    with _settings_errors_as_build_errors():
        root = find_project(settings).root
        found = find_requirements(root, requirements)
    source = _sources_folder(manage.resolve().parent, found.source)
    if not root.is_relative_to(source):
        raise BuildError(
            f"--check-reproducible copies the folder {str(source)!r}, which does not hold "
            f"the project directory {str(root)!r}. Run it from the repository that holds "
            "the project."
        )
    return build_twice(source, manage.resolve(), arguments, source_date(root))


def _sources_folder(manage_folder: Path, requirements: Path) -> Path:
    """What a build reads besides manage.py's folder: the whole git checkout, or the
    folder above it that holds the requirements file."""
    top = git_top_level(manage_folder)
    if top is not None:
        return top
    folder = requirements.resolve().parent
    return folder if manage_folder.is_relative_to(folder) else manage_folder


def list_build(
    *,
    output: Path,
    write: Callable[[str], None],
    requirements: str | None = None,
    config_object: str | None = None,
    includes: Sequence[str] = (),
    platforms: Sequence[str] = (),
    python_version: str | None = None,
    exclude: Sequence[str] = (),
    asgi: bool = False,
    cache_dir: Path | None = None,
) -> None:
    """Write what build_pyz would put into the archive, and what it would leave out.

    ``cache_dir``: the dependency cache, whose entry for these requirements (when there
    is one) tells which modules each distribution installs; None: none is read.
    """
    with _settings_errors_as_build_errors():
        project = find_project(settings, config_object, includes)
        found = find_requirements(project.root, requirements)
        target = make_target(platforms, python_version)
        list_contents(
            project,
            found,
            target,
            output=output.resolve(),
            exclude=exclude,
            write=write,
            asgi=asgi,
            cache_dir=cache_dir,
        )


def _finish(
    project: Project,
    found: Requirements,
    site_packages: Path,
    pending: Path,
    output: Path,
    staging: str,
    shebang: str | None,
    compressed: bool,
    built_at: int,
    processes: dict[str, Any],
    cache: Path | None,
    target: Target,
    bundle_python: str | None,
    verify: bool,
    verify_urls: Sequence[str],
    verify_env: Mapping[str, str],
    variables: list[str],
    runtime: tuple[str, ...],
    report: Callable[[str], None],
    dependencies: Path,
) -> str:
    """Write the archive with these dependencies to pending, verify it; the build id."""
    _check_collisions(dependencies)
    _check_names(project, site_packages, dependencies, report)
    build_only = _build_only(dependencies, site_packages, runtime, target, report)
    _add_self(site_packages, dependencies, report)
    normalize_modes(site_packages)
    report(f"Writing {output.name}")
    plain = pending if bundle_python is None else Path(staging, output.name)
    sources = [dependencies, site_packages]
    version = project_version(project.root, found.source.parent)
    sbom = _sbom(project, version, sources, target, built_at, bundle_python, build_only, report)
    build_id = write_archive(
        [dependencies, site_packages],
        plain,
        shebang=shebang or default_shebang(target.python),
        compressed=compressed,
        built_at=built_at,
        build_info={
            **_build_info(project, found, target, sources, built_at, build_only),
            "processes": processes,
            "environment": variables,
        },
        cache_dir=cache,
        documents=[(SBOM_NAME, sbom)],
        language=unpacked_language(),
        build_only=build_only,
    )
    if bundle_python is not None:
        _bundle(plain, pending, bundle_python, target, built_at, build_id, report)
        report("Note: not verified: the archive carries its own interpreter")
    elif verify:
        where = None if cache is None else cache / "verify"
        # One site's builds (a project and settings module) keep one set of databases.
        site = f"{project.root}\0{project.settings_module}"
        key = hashlib.sha256(site.encode()).hexdigest()[:32]
        _verify(
            pending, output.name, where, key, target, verify_urls, verify_env, variables, report,
            root=project.root,
        )  # fmt: skip
    return build_id


def _finish_with_guess(
    finish: Callable[[Path], str],
    guess: Path,
    site_packages: Path,
    report: Callable[[str], None],
    resolve: Callable[[], Path],
) -> tuple[str, Path]:
    """Finish with the dependencies the requirements resolved to last, then check them.

    pip's resolution runs meanwhile; when it names other dependencies (a new release of an
    unpinned requirement), the archive is written and verified again with those, so the
    result is always what pip resolves now. Returns the build id and the dependencies.
    """
    before = set(site_packages.iterdir())
    try:
        build_id: str | None = finish(guess)
        failure = None
    except BuildError as exc:  # perhaps for want of what pip resolves now
        build_id, failure = None, exc
    report("Checking the dependencies against pip's resolution")
    dependencies = resolve()
    if dependencies == guess:
        if failure is not None:
            raise failure
        assert build_id is not None
        return build_id, dependencies
    report("pip resolved other dependencies than last time: writing the archive with them")
    for path in set(site_packages.iterdir()) - before:
        shutil.rmtree(path)
    return finish(dependencies), dependencies


def _processes(workers: Mapping[str, Any] | None, jobs: Mapping[str, Any] | None) -> dict[str, Any]:
    try:
        return declared_processes(dict(workers or {}), dict(jobs or {}))
    except DeclarationError as exc:
        raise BuildError(f"{exc} See the guide 'Background workers and scheduled jobs'.") from None


def _report_settings_default(project: Project, report: Callable[[str], None]) -> None:
    for note in settings_default_notes(project.root, project.settings_module):
        report(note)


def settings_default_notes(root: Path, settings_module: str) -> list[str]:
    """Notes when the build runs under manage.py's default settings (module or class) and
    wsgi.py defaults to others: the archive would serve the development ones."""
    wsgi = getattr(settings, "WSGI_APPLICATION", None)
    if not wsgi:
        return []
    notes = [settings_module_note(root, settings_module, wsgi)]
    configuration = configuration_class(settings_module)
    if configuration:
        notes.append(configuration_note(root, configuration, wsgi))
    return [note for note in notes if note is not None]


def _report_config(project: Project, report: Callable[[str], None]) -> None:
    if project.config_object is None:
        report(
            "Note: the project has no goodconf configuration, so the archive runs with its "
            "settings as they are, and -C/--config and `config` have nothing to load"
        )
    else:
        report(f"Configuration: {project.config_object}, loaded before the settings")


def _resolve(found: Requirements, pip_args: list[str], target: Target) -> Resolution:
    return Resolution(
        pip_args, cwd=found.source.parent, target_args=target.pip_args(), python=target.python
    )


@contextmanager
def _settings_errors_as_build_errors() -> Iterator[None]:
    try:
        yield
    except ImproperlyConfigured as exc:
        raise BuildError(f"The settings are incomplete: {exc} Fix them and build again.") from None


def _install_dependencies(
    staging: Path,
    found: Requirements,
    pip_args: list[str],
    target: Target,
    cache: Path | None,
    resolution: Resolution | None,
    report: Callable[[str], None],
    pip_echo: Callable[[str], None] | None,
) -> Path:
    report(f"Installing dependencies from {found.described} with pip")
    return stage_dependencies(
        staging / "dependencies",
        pip_args,
        cwd=found.source.parent,
        target=target,
        cache_dir=cache,
        resolution=resolution,
        report=report,
        echo=pip_echo,
    )


def _check_names(
    project: Project, site_packages: Path, dependencies: Path, report: Callable[[str], None]
) -> None:
    optional = {*project.unimported_packages, *(str(name) for name in project.data_files)}
    for path in sorted(site_packages.iterdir()):
        if not (dependencies / path.name).exists():
            continue
        if path.name in optional:
            # Neither imported nor named by the settings: the dependency's module wins.
            report(f"Note: left out {path.name!r}: a dependency installs a module so named")
            shutil.rmtree(path) if path.is_dir() else path.unlink()
            continue
        raise BuildError(
            f"The project's {path.name!r} has the same name as one installed by a "
            "dependency, so one would hide the other in the archive. Rename it."
        )


def _build_only(
    dependencies: Path,
    site_packages: Path,
    runtime: tuple[str, ...],
    target: Target,
    report: Callable[[str], None],
) -> BuildOnly:
    """What only the builder needs (see build_only.py); the project is staged already."""
    build_only = select_build_only(
        dependencies,
        site_packages,
        runtime=runtime,
        python=target.python,
        installed_apps=settings.INSTALLED_APPS,
    )
    summary = build_only.summary()
    if summary is not None:
        report(summary)
    return build_only


def _check_collisions(dependencies: Path) -> None:
    collisions = find_collisions(installed_providers([str(dependencies)]))
    if collisions:
        found = " ".join(f"{c.problem()} {c.way_out()}" for c in collisions)
        raise BuildError(f"No archive was built: {found}")


def _verify(
    archive: Path,
    name: str,
    cache_root: Path | None,
    database_key: str,
    target: Target,
    urls: Sequence[str],
    environment: Mapping[str, str],
    variables: list[str],
    report: Callable[[str], None],
    *,
    root: Path,
) -> None:
    if not can_run_here(target):
        report(
            f"Note: not verified: the archive is for Python {target.python} on "
            f"{target.describe()['platform']}, which cannot run here"
        )
        return
    report(f"Verifying: check --deploy, migrate, serve, then GET {', '.join(urls)}")
    try:
        _verify_archive(
            archive, name, cache_root, database_key, urls, environment, variables, report
        )
    except VerificationFailed as failure:
        failure.hint += left_out_hint(failure.output, archive, root)
        failure.hint += missing_module_hint(failure.output)
        failure.hint += sqlite_stand_in_hint(failure.output, _engines(), environment)
        raise


def _engines() -> list[str]:
    """The ENGINE of each database of the build's settings."""
    return [str(database.get("ENGINE", "")) for database in settings.DATABASES.values()]


def _verify_archive(
    archive: Path,
    name: str,
    cache_root: Path | None,
    database_key: str,
    urls: Sequence[str],
    environment: Mapping[str, str],
    variables: list[str],
    report: Callable[[str], None],
) -> None:
    host, https = request_headers(settings)
    verify_archive(
        archive,
        urls=urls,
        host=host,
        https_header=https,
        environment={**throwaway_secret_keys(_secret_key(), variables), **environment},
        report=report,
        name=name,
        cache_root=cache_root,
        database_key=database_key,
        file_prefixes=file_prefixes(
            settings.STATIC_URL, getattr(settings, "MEDIA_URL", None), host
        ),
        read_variables=variables,
        # Not one the verification is given: that one is the server's already.
        sqlite_variable=sqlite_variable(
            settings.DATABASES, [v for v in variables if v not in environment], os.environ
        ),
    )


def _secret_key() -> str | None:
    try:
        return str(settings.SECRET_KEY)
    except ImproperlyConfigured:  # empty on the build machine: the host gives it
        return None


def _add_self(site_packages: Path, dependencies: Path, report: Callable[[str], None]) -> None:
    pip_version = copy_self(site_packages, installed=dependencies)
    if pip_version is not None and pip_version != django_zipapp.__version__:
        report(
            f"Note: the requirements install django-zipapp {pip_version}; this build runs "
            f"{django_zipapp.__version__}. The archive runs the version the requirements name."
        )


def _copy_project(
    project: Project,
    site_packages: Path,
    output: Path,
    exclude: Sequence[str],
    report: Callable[[str], None],
) -> None:
    report("Copying the project files")
    rules = project_rules(project, output, exclude)
    left_out = LeftOut(project.root, project.includes)
    count = 0
    for name in project.copied_packages:
        source = project.root / name
        target = site_packages / name
        if source.is_dir():
            count += copy_tree(source, target, rules=rules, on_skip=left_out)
        else:
            copy_file(source.with_suffix(".py"), target.with_suffix(".py"))
            count += 1
    count += _copy_layout(project, site_packages, rules, left_out)
    names = ", ".join(project.copied_packages)
    report(f"Copied {count} project files ({names}; {len(project.data_dirs)} data directories)")
    left_out.report(report)


def _refuse_secrets(project: Project, site_packages: Path, report: Callable[[str], None]) -> None:
    started = time.perf_counter()
    secrets = known_secrets(settings, config_instance(project.config_object))
    files = packed_files(site_packages, site_packages / project.static_root, project.root)
    refuse(scan(files, secrets))
    took = (time.perf_counter() - started) * 1000
    report(f"Scanned {len(files)} project files for secrets in {took:.0f} ms: none found")


def _record_published_keys(project: Project, site_packages: Path) -> None:
    # serve refuses a SECRET_KEY that is one of these: anyone with the archive has it.
    files = packed_files(site_packages, site_packages / project.static_root, project.root)
    keys = published_keys(files)
    path = site_packages / PUBLISHED_KEYS_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(keys, sort_keys=True, indent=0), encoding="utf-8")


def _copy_layout(project: Project, site_packages: Path, rules: Rules, left_out: LeftOut) -> int:
    """Data beside the code, where BASE_DIR finds it: the archive's site-packages is BASE_DIR."""
    count = 0
    for directory in project.data_dirs:
        target = site_packages / directory
        count += copy_tree(project.root / directory, target, rules=rules, on_skip=left_out)
    for name in project.data_files:
        source, target = project.root / name, site_packages / name
        reason = skip_reason(source, rules)
        if reason is None:
            copy_file(source, target)
            count += 1
        else:
            left_out(source, reason)
    for path in project.includes:
        source, target = project.root / path, site_packages / path
        if source.is_dir():  # tests included on purpose ship whole
            count += copy_tree(source, target, rules=replace(rules, leave_out_tests=False))
        else:  # named on purpose: copied even when the rules would leave it out
            target.parent.mkdir(parents=True, exist_ok=True)
            copy_file(source, target)
            count += 1
    return count


def _collect_static(
    project: Project,
    site_packages: Path,
    built_at: int,
    cache_dir: Path | None,
    report: Callable[[str], None],
) -> None:
    report("Collecting static files")
    for missing in missing_static_dirs():
        report(
            f"Note: STATICFILES_DIRS names {missing!r}, which does not exist: skipped, as "
            "collectstatic does (Django's check staticfiles.W004)"
        )
    target = site_packages / project.static_root
    cache = CompressionCache(cache_dir) if cache_dir is not None else None
    count = collect_static(target, cache=cache)
    root_files = collect_root_files(site_packages / ROOT_FILES_DIR)
    index = _write_index(project, site_packages, built_at)
    served = f"{len(index['files'])} files to serve"
    if root_files:
        served += f", {root_files} at the site's root from WHITENOISE_ROOT"
    if cache is not None:
        cache.prune()
        if cache.made or cache.reused:
            compressed = cache.made + cache.reused
            served += f"; {cache.reused} of {compressed} compressed versions from the cache"
    report(f"Collected {count} static files into {project.static_root} ({served})")
    _report_uncollected(project, target, report)


def _report_uncollected(project: Project, collected: Path, report: Callable[[str], None]) -> None:
    if project.static_root == FALLBACK_STATIC_ROOT:
        return  # STATIC_ROOT is outside the project: nothing of it is committed here
    stray = uncollected_files(project.root / project.static_root, collected)
    if not stray:
        return
    listed = ", ".join(stray[:5]) + (f" and {len(stray) - 5} more" if len(stray) > 5 else "")
    report(
        f"Note: STATIC_ROOT ({project.static_root}) holds {len(stray)} file(s) that "
        f"collectstatic does not produce, which the archive does not serve: {listed}; move "
        "them (a front-end build's output) into a folder of STATICFILES_DIRS, and write "
        "the build's output there, so that collectstatic collects them"
    )


def _write_index(project: Project, site_packages: Path, built_at: int) -> dict[str, Any]:
    index = static_index(site_packages / project.static_root, built_at)
    root_files = site_packages / ROOT_FILES_DIR
    if root_files.is_dir():
        index["root"] = static_index(root_files, built_at)["files"]
    write_static_index(site_packages / STATIC_INDEX_NAME, index)
    return index


def _run_build_commands(
    project: Project,
    site_packages: Path,
    built_at: int,
    cache_dir: Path | None,
    commands: Sequence[str | Sequence[str]],
    report: Callable[[str], None],
) -> None:
    if not commands:
        return
    names = ", ".join(parse_command(command)[0] for command in commands)
    report(f"Running {len(commands)} build command(s): {names}")
    target = site_packages / project.static_root
    sources = static_sources()
    written = run_build_commands(commands, target, cwd=project.root)
    # The static files they wrote (compress's CACHE/) are served like collected ones.
    _write_index(project, site_packages, built_at)
    if written:
        report(f"Build commands wrote {written} static files")
    changed = _changed_sources(sources, static_sources(), project.root)
    if changed:
        # Into a static folder (compilescss's CSS beside its .scss): collected again, so
        # that the archive, and the manifest {% static %} reads, have them.
        shown = ", ".join(changed[:5]) + (", ..." if len(changed) > 5 else "")
        report(f"Build commands wrote {len(changed)} file(s) into static folders: {shown}")
        _collect_static(project, site_packages, built_at, cache_dir, report)


def _changed_sources(
    before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]], root: Path
) -> list[str]:
    changed = sorted(path for path, state in after.items() if before.get(path) != state)
    return [os.path.relpath(path, root) for path in changed]


def _build_info(
    project: Project,
    found: Requirements,
    target: Target,
    sources: list[Path],
    built_at: int,
    build_only: BuildOnly,
) -> dict[str, Any]:
    distributions = {
        dist.metadata["Name"]: dist.version
        for dist in importlib.metadata.distributions(path=[str(path) for path in sources])
        if dist.metadata["Name"] not in build_only.names
    }
    return {
        "format": BUILD_INFO_FORMAT,
        "project": project.name,
        "settings_module": project.settings_module,
        "config_object": project.config_object,
        "configuration": configuration_class(project.settings_module),
        "static": {"root": project.static_root.as_posix(), "url": settings.STATIC_URL},
        "python_path": [folder.as_posix() for folder in project.python_path],
        "version": project_version(project.root, found.source.parent),
        "git": git_state(project.root),
        **target.describe(),
        "native": any(has_native_code(path, build_only.files) for path in sources),
        "built_at": built_at,
        "django_zipapp": django_zipapp.__version__,
        "requirements": found.source.name,
        "provenance": {
            "builder": builder_versions(),
            "inputs": input_digests(project.root, found.files or (found.source,)),
        },
        "distributions": dict(sorted(distributions.items(), key=lambda item: item[0].lower())),
    }


def _bundle(
    archive: Path,
    output: Path,
    source: str,
    target: Target,
    built_at: int,
    build_id: str,
    report: Callable[[str], None],
) -> None:
    with tempfile.TemporaryDirectory(prefix="buildpyz-python-") as staging:
        interpreter = prepare_interpreter(
            source, Path(staging), python=target.python, built_at=built_at
        )
        needs = interpreter.needs
        report(
            f"Bundling CPython {interpreter.python} from {interpreter.source} "
            f"({interpreter.tarball.stat().st_size / 1_000_000:.1f} MB packed; needs Linux "
            f"{needs['machine']} with glibc {needs['glibc']} or newer)"
        )
        write_bundle(archive, interpreter, output, build_id=build_id, boot_module=BOOT_MODULE)


def _sbom(
    project: Project,
    version: str | None,
    sources: list[Path],
    target: Target,
    built_at: int,
    bundle_python: str | None,
    build_only: BuildOnly,
    report: Callable[[str], None],
) -> bytes:
    started = time.perf_counter()
    sbom = make_sbom(
        left_out=build_only.names,
        sources=sources,
        project=project.name,
        version=version,
        target=target,
        built_at=built_at,
        bundled=None if bundle_python is None else Bundled(bundle_python),
    )
    took = (time.perf_counter() - started) * 1000
    count = len(json.loads(sbom)["components"])
    report(f"SBOM: {count} components (CycloneDX {SBOM_SCHEMA}) in {took:.0f} ms")
    return sbom


def _beside(
    output: Path,
    sbom_file: Path | None,
    sign_with: SigningKey | None,
    report: Callable[[str], None],
) -> None:
    """The SBOM and the signature next to the archive, once it is in place."""
    if sbom_file is not None:
        sbom_file = sbom_file.resolve()
        with replacing(sbom_file, "The SBOM") as partial:
            partial.write_bytes(stored_sbom(output))
        report(f"Wrote the SBOM to {sbom_file}")
    if sign_with is not None:
        started = time.perf_counter()
        signature = sign_file(output, sign_with)
        took = (time.perf_counter() - started) * 1000
        report(f"Signed: {signature.name} (minisign key {sign_with.key_id}) in {took:.0f} ms")
