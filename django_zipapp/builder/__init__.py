"""Building an archive. Usable from a script once Django is set up:

django.setup()
result = build_pyz(output=Path("site.pyz"))
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import shutil
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

import django_zipapp
from django_zipapp.conf import default_shebang

from ..runtime.static import STATIC_INDEX_NAME
from .commands import parse_command, run_build_commands
from .errors import BuildError
from .files import copy_file, copy_self, copy_tree, is_shippable
from .pip import pip_install
from .project import Project, find_project
from .requirements import RUNTIME_REQUIREMENTS, Requirements, find_requirements
from .shiv import write_archive
from .static import collect_static, static_index, static_storage_class, write_static_index

__all__ = ["BuildError", "BuildResult", "build_pyz"]

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
    includes: Sequence[str] = (),
    build_commands: Sequence[str | Sequence[str]] = (),
) -> BuildResult:
    output = output.resolve()
    if output.is_dir():
        raise BuildError(f"The output {str(output)!r} is a directory; give a file name.")
    if not output.parent.is_dir():
        raise BuildError(f"The output's directory {str(output.parent)!r} does not exist.")
    with _settings_errors_as_build_errors():
        project = find_project(settings, config_object, includes)
        found = find_requirements(project.root, requirements)
        static_storage_class()
        report(f"Project {project.name!r} in {project.root} (settings {project.settings_module})")
        built_at = _build_time()
        with tempfile.TemporaryDirectory(prefix="buildpyz-") as staging:
            site_packages = Path(staging, "site-packages")
            _install_dependencies(Path(staging), found, report, pip_echo)
            _collect_static(project, site_packages, built_at, report)
            _run_build_commands(project, site_packages, built_at, build_commands, report)
            _copy_project(project, site_packages, output, report)
            report(f"Writing {output.name}")
            build_id = write_archive(
                site_packages,
                output,
                shebang=shebang or default_shebang(),
                compressed=compressed,
                built_at=built_at,
                build_info=_build_info(project, found, site_packages, built_at),
            )
        return BuildResult(output, output.stat().st_size, _sha256(output), build_id)


def _build_time() -> int:
    value = os.environ.get("SOURCE_DATE_EPOCH")
    if value is None:
        return int(time.time())
    if not value.isdigit() or int(value) < 315532800:  # zip timestamps start in 1980
        raise BuildError(
            f"SOURCE_DATE_EPOCH must be a Unix timestamp from 1980 on, not {value!r}. "
            "Set it to the commit's time (git log -1 --format=%ct) or unset it."
        )
    return int(value)


@contextmanager
def _settings_errors_as_build_errors() -> Iterator[None]:
    try:
        yield
    except ImproperlyConfigured as exc:
        raise BuildError(f"The settings are incomplete: {exc} Fix them and build again.") from None


def _install_dependencies(
    staging: Path,
    found: Requirements,
    report: Callable[[str], None],
    pip_echo: Callable[[str], None] | None,
) -> None:
    site_packages = staging / "site-packages"
    report(f"Installing dependencies from {found.source.name} with pip")
    pip_install(
        site_packages,
        [*found.install_args(staging), *RUNTIME_REQUIREMENTS],
        cwd=found.source.parent,
        echo=pip_echo,
    )
    # Console scripts carry the build machine's interpreter path; the archive has its own
    # entry point and never runs them.
    shutil.rmtree(site_packages / "bin", ignore_errors=True)
    pip_version = copy_self(site_packages)
    if pip_version is not None and pip_version != django_zipapp.__version__:
        report(
            f"Note: the requirements install django-zipapp {pip_version}; this build runs "
            f"{django_zipapp.__version__}. The archive runs the version the requirements name."
        )


def _copy_project(
    project: Project, site_packages: Path, output: Path, report: Callable[[str], None]
) -> None:
    skip = [output, project.root / project.static_root]
    if getattr(settings, "MEDIA_ROOT", None):
        skip.append(Path(settings.MEDIA_ROOT))
    count = 0
    for name in project.packages:
        if _installed(site_packages, name):
            raise BuildError(
                f"The project's package {name!r} has the same name as one installed by a "
                "dependency, so one would hide the other in the archive. Rename the package."
            )
        count += _copy_package(project.root, site_packages, name, skip)
    for name in project.unimported_packages:
        if _installed(site_packages, name):
            report(f"Note: left out the folder {name!r}: a dependency installs a package so named")
            continue
        count += _copy_package(project.root, site_packages, name, skip)
    count += _copy_layout(project, site_packages, skip)
    names = ", ".join((*project.packages, *project.unimported_packages))
    report(f"Copied {count} project files ({names}; {len(project.data_dirs)} data directories)")


def _installed(site_packages: Path, name: str) -> bool:
    target = site_packages / name
    return target.exists() or target.with_suffix(".py").exists()


def _copy_package(root: Path, site_packages: Path, name: str, skip: list[Path]) -> int:
    source = root / name
    if source.is_dir():
        return copy_tree(source, site_packages / name, skip=skip)
    copy_file(source.with_suffix(".py"), (site_packages / name).with_suffix(".py"))
    return 1


def _copy_layout(project: Project, site_packages: Path, skip: list[Path]) -> int:
    """Data beside the code, where BASE_DIR finds it: the archive's site-packages is BASE_DIR."""
    count = 0
    for directory in project.data_dirs:
        count += copy_tree(project.root / directory, site_packages / directory, skip=skip)
    for name in project.data_files:
        source, target = project.root / name, site_packages / name
        # A dependency's module of the same name wins; a private file never ships.
        if not target.exists() and is_shippable(source, skip=skip):
            copy_file(source, target)
            count += 1
    for path in project.includes:
        source, target = project.root / path, site_packages / path
        if source.is_dir():
            count += copy_tree(source, target, skip=skip)
        else:  # named on purpose: copied even when the rules would leave it out
            target.parent.mkdir(parents=True, exist_ok=True)
            copy_file(source, target)
            count += 1
    return count


def _collect_static(
    project: Project, site_packages: Path, built_at: int, report: Callable[[str], None]
) -> None:
    target = site_packages / project.static_root
    count = collect_static(target)
    index = static_index(target, built_at)
    write_static_index(site_packages / STATIC_INDEX_NAME, index)
    served = len(index["files"])
    report(f"Collected {count} static files into {project.static_root} ({served} files to serve)")


def _run_build_commands(
    project: Project,
    site_packages: Path,
    built_at: int,
    commands: Sequence[str | Sequence[str]],
    report: Callable[[str], None],
) -> None:
    if not commands:
        return
    names = ", ".join(parse_command(command)[0] for command in commands)
    report(f"Running {len(commands)} build command(s): {names}")
    target = site_packages / project.static_root
    written = run_build_commands(commands, target, cwd=project.root)
    # The static files they wrote (compress's CACHE/) are served like collected ones.
    write_static_index(site_packages / STATIC_INDEX_NAME, static_index(target, built_at))
    if written:
        report(f"Build commands wrote {written} static files")


def _build_info(
    project: Project, found: Requirements, site_packages: Path, built_at: int
) -> dict[str, Any]:
    distributions = {
        dist.metadata["Name"]: dist.version
        for dist in importlib.metadata.distributions(path=[str(site_packages)])
    }
    return {
        "format": BUILD_INFO_FORMAT,
        "project": project.name,
        "settings_module": project.settings_module,
        "config_object": project.config_object,
        "static": {"root": project.static_root.as_posix(), "url": settings.STATIC_URL},
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
        "implementation": sys.implementation.name,
        "platform": sysconfig.get_platform(),
        "built_at": built_at,
        "django_zipapp": django_zipapp.__version__,
        "requirements": found.source.name,
        "distributions": dict(sorted(distributions.items(), key=lambda item: item[0].lower())),
    }


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
