"""What of the project goes into the archive, found from its loaded settings."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import ModuleType
from typing import Any

from ..conf import file_system_storages, from_base_dir
from .errors import BuildError
from .files import TEST_DIRS, is_test_file, never_packed
from .provenance import project_name
from .source_roots import locate, source_roots

# Where collected static files go when STATIC_ROOT is not inside the project.
FALLBACK_STATIC_ROOT = PurePosixPath("_zipapp/static")


@dataclass(frozen=True)
class Project:
    root: Path
    name: str
    settings_module: str
    packages: tuple[str, ...]
    data_dirs: tuple[PurePosixPath, ...]
    static_root: PurePosixPath
    config_object: str | None
    # Packages found only as folders: a dependency's package of the same name wins.
    unimported_packages: tuple[str, ...] = ()
    # Files at the project root and --include'd paths, relative to the root.
    data_files: tuple[PurePosixPath, ...] = ()
    includes: tuple[PurePosixPath, ...] = ()
    # Folders under the root on sys.path (src/): the archive puts them on sys.path too.
    python_path: tuple[PurePosixPath, ...] = ()

    @property
    def copied_packages(self) -> tuple[str, ...]:
        """The packages and modules, each copied once: a package inside another one of
        them, found in a folder on sys.path that is a package itself (cookiecutter-django's
        manage.py puts its apps' folder there), is copied with that one."""
        every = (*self.packages, *self.unimported_packages)
        return tuple(name for name in every if not _inside_another(name, every))

    @property
    def module_names(self) -> tuple[str, ...]:
        """The top-level names the project's packages and modules are imported by."""
        return tuple(
            PurePosixPath(path).name for path in (*self.packages, *self.unimported_packages)
        )


def find_project(
    settings: Any, config_object: str | None = None, includes: Sequence[str] = ()
) -> Project:
    """Describe the project from its configured settings, after django.setup()."""
    settings_module = settings.SETTINGS_MODULE
    root = project_root(settings)
    roots = source_roots(root)
    packages = project_packages(root, settings, roots)
    unimported = package_folders(root, exclude=packages, roots=roots)
    return Project(
        root=root,
        # The name pyproject.toml declares, as for the version (provenance.py); else the
        # settings' package, which cookiecutter-django and others call "config".
        name=project_name(root) or settings_module.split(".")[0],
        settings_module=settings_module,
        packages=packages,
        data_dirs=data_dirs(root, settings, (*packages, *unimported)),
        static_root=static_root(root, settings),
        config_object=config_object or find_config_object(settings_module, root),
        unimported_packages=unimported,
        data_files=root_files(root),
        includes=tuple(included_path(root, path) for path in includes),
        python_path=_used_roots(roots, (*packages, *unimported)),
    )


def project_root(settings: Any) -> Path:
    base_dir = getattr(settings, "BASE_DIR", None)
    if base_dir is not None:
        return Path(base_dir).resolve()
    # No BASE_DIR: the directory that holds the settings' top-level package.
    top = sys.modules[settings.SETTINGS_MODULE.split(".")[0]]
    return _module_path(top).parent


def project_packages(
    root: Path, settings: Any, roots: Sequence[PurePosixPath] = ()
) -> tuple[str, ...]:
    """Top-level packages and modules under the project root that the site imports.

    After django.setup() every app, model and admin module is imported; the URLconf and
    WSGI modules are named by settings and not imported yet. Each is given by its path
    relative to the root: ``src/mysite`` in a src layout.
    """
    names = {_top_level(name) for name in sys.modules}
    for setting in ("ROOT_URLCONF", "WSGI_APPLICATION", "SETTINGS_MODULE"):
        value = getattr(settings, setting, None)
        if value:
            names.add(_top_level(value))
    names.update(_top_level(app) for app in settings.INSTALLED_APPS)
    found = (_lives_in(root, roots, name) for name in names)
    return tuple(sorted(path for path in found if path is not None))


def package_folders(
    root: Path, *, exclude: Sequence[str], roots: Sequence[PurePosixPath] = ()
) -> tuple[str, ...]:
    """Top-level packages under the root that nothing imported while Django set up.

    A view may import a package of the project lazily, inside a function; it must be in
    the archive all the same.
    """
    found = (
        (folder / path.name).as_posix()
        for folder in (PurePosixPath(), *roots)
        for path in (root / folder).iterdir()
        if path.name.isidentifier()
        and (path / "__init__.py").is_file()
        and path.name not in TEST_DIRS
    )
    return tuple(
        sorted(
            name
            for name in found
            if name not in exclude and _lives_in(root, roots, PurePosixPath(name).name) == name
        )
    )


def _used_roots(
    roots: Sequence[PurePosixPath], packages: Sequence[str]
) -> tuple[PurePosixPath, ...]:
    return tuple(root for root in roots if any(PurePosixPath(p).parent == root for p in packages))


def root_files(root: Path) -> tuple[PurePosixPath, ...]:
    """The files next to manage.py, read at run time through BASE_DIR as in the source."""
    return tuple(
        PurePosixPath(path.name)
        for path in sorted(root.iterdir())
        if path.is_file() and not path.name.startswith(".") and not is_test_file(path)
    )


def included_path(root: Path, path: str) -> PurePosixPath:
    """An --include'd file or folder, relative to the project root."""
    candidate = (root / path).resolve()
    if not candidate.exists():
        raise BuildError(
            f"The included path {path!r} does not exist in the project directory "
            f"{str(root)!r}. Give a file or folder relative to it in --include or "
            "ZIPAPP_INCLUDE."
        )
    if not candidate.is_relative_to(root) or candidate == root:
        raise BuildError(
            f"The included path {path!r} is not inside the project directory {str(root)!r}, "
            "so the archive could not place it where BASE_DIR finds it. Move it into the "
            "project, or include a folder inside it."
        )
    kind = never_packed(candidate) if candidate.is_dir() else None
    if kind is not None:
        raise BuildError(
            f"The included path {path!r} is a folder that no archive holds ({kind}), even "
            "included on purpose (a virtualenv's packages come from the requirements, which "
            "pip installs for the archive). Leave it out of --include and ZIPAPP_INCLUDE, or "
            "include the files the site reads from it."
        )
    return PurePosixPath(candidate.relative_to(root).as_posix())


def _inside_another(name: str, names: Sequence[str]) -> bool:
    path = PurePosixPath(name)
    return any(other != name and path.is_relative_to(other) for other in names)


def _top_level(dotted: str) -> str:
    return dotted.split(".")[0]


def _lives_in(root: Path, roots: Sequence[PurePosixPath], name: str) -> str | None:
    if name in ("__main__", "manage"):
        return None
    # A package is the project's when it sits directly in the project root or in a folder
    # of it on sys.path (src/): this skips a virtualenv inside the project directory.
    return locate(root, roots, name)


def data_dirs(root: Path, settings: Any, packages: Sequence[str] = ()) -> tuple[PurePosixPath, ...]:
    """Template, locale and fixture directories the settings name, relative to the root.

    Those inside one of ``packages`` or inside another of them are left to that one's
    copy, which ships them: copied twice, their files were counted twice. Not one in a
    ``tests`` folder, which a package's copy leaves out (fixtures named on purpose).
    """
    named: list[tuple[str, Any]] = []
    for engine in settings.TEMPLATES:
        named.extend(("TEMPLATES DIRS", path) for path in engine.get("DIRS", []))
    named.extend(("LOCALE_PATHS", path) for path in settings.LOCALE_PATHS)
    named.extend(("FIXTURE_DIRS", path) for path in settings.FIXTURE_DIRS)
    found = {_relative_dir(root, setting, path) for setting, path in named}
    # Not STATICFILES_DIRS: collectstatic copied them, and the archive empties the setting.
    directories = {path for path in found if path is not None}
    copied = {PurePosixPath(package) for package in packages} | directories
    return tuple(sorted(path for path in directories if not _copied_within(path, copied)))


def _copied_within(path: PurePosixPath, copied: set[PurePosixPath]) -> bool:
    if any(part in TEST_DIRS for part in path.parts):
        return False
    return any(path != other and path.is_relative_to(other) for other in copied)


def static_sources(root: Path) -> list[Path]:
    """The STATICFILES_DIRS inside the project: packed once, as collected files."""
    from django.conf import settings

    found = []
    for entry in getattr(settings, "STATICFILES_DIRS", ()):
        path = entry[1] if isinstance(entry, (tuple, list)) else entry
        if Path(path).is_absolute() and Path(path).resolve().is_relative_to(root):
            found.append(Path(path).resolve())
    return found


def storage_locations() -> list[tuple[str, Path]]:
    """Where each FileSystemStorage of STORAGES but the static files' one writes."""
    from django.conf import settings

    found = []
    for alias, given in file_system_storages():
        location = given or settings.MEDIA_ROOT
        if location:
            found.append((alias, Path(location).resolve()))
    return found


def _relative_dir(root: Path, setting: str, path: Any) -> PurePosixPath | None:
    directory = Path(path)
    if not directory.is_absolute():
        raise BuildError(
            f"{setting} contains the relative path {str(path)!r}, which depends on the "
            "directory the site is started from. Build it from BASE_DIR instead, for "
            f"example {from_base_dir(str(path))}."
        )
    directory = directory.resolve()
    if not directory.is_dir():
        return None
    if not directory.is_relative_to(root):
        raise BuildError(
            f"{setting} contains {str(path)!r}, which is outside the project directory "
            f"{str(root)!r}, so the archive could not carry it. Move it into the project."
        )
    return PurePosixPath(directory.relative_to(root).as_posix())


def static_root(root: Path, settings: Any) -> PurePosixPath:
    configured = getattr(settings, "STATIC_ROOT", None)
    if configured:
        path = Path(configured).resolve()
        if path.is_relative_to(root) and path != root:
            return PurePosixPath(path.relative_to(root).as_posix())
    return FALLBACK_STATIC_ROOT


def find_config_object(settings_module: str, root: Path) -> str | None:
    """The 'module:attribute' of the goodconf instance the settings read, if any.

    The archive loads that instance (with -C and the environment) before it imports the
    settings, so it must live in a module other than the settings module itself.
    """
    from goodconf import GoodConf

    settings_namespace = vars(sys.modules[settings_module])
    instances = {id(v): v for v in settings_namespace.values() if isinstance(v, GoodConf)}
    if not instances:
        # The settings may reach it through a module (`from mysite import conf`).
        instances = _project_instances(root, GoodConf)
    if not instances:
        _refuse_unused_class(root, GoodConf)
        return None
    if len(instances) > 1:
        raise BuildError(
            f"The settings module {settings_module!r} uses several goodconf instances. "
            "Set ZIPAPP_CONFIG_OBJECT to the one the archive should load, as 'module:attribute'."
        )
    instance = next(iter(instances.values()))
    for module_name in _candidate_modules(type(instance).__module__, root):
        if module_name == settings_module:
            continue
        for attribute, value in vars(sys.modules[module_name]).items():
            if value is instance:
                return f"{module_name}:{attribute}"
    raise BuildError(
        f"The goodconf instance used by {settings_module!r} is created inside the settings "
        "module, so the archive cannot load it before the settings. Move "
        f"`config = {type(instance).__name__}(...)` into a module of its own (for example "
        f"{settings_module.rsplit('.', 1)[0]}.conf) and import it in the settings, or set "
        "ZIPAPP_CONFIG_OBJECT."
    )


def _project_instances(root: Path, kind: type) -> dict[int, Any]:
    return {
        id(value): value
        for module in list(sys.modules.values())
        if _is_project_module(module, root)
        for value in list(vars(module).values())
        if isinstance(value, kind)
    }


def _refuse_unused_class(root: Path, base: type) -> None:
    """A goodconf class of the project with no instance found: the archive could not load
    the configuration its settings read, and would end in an AttributeError."""
    for module in list(sys.modules.values()):
        if not _is_project_module(module, root):
            continue
        for value in list(vars(module).values()):
            if _defines(module, value, base):
                raise BuildError(
                    f"The project defines the goodconf class {value.__name__!r} in "
                    f"{module.__name__!r}, but no instance of it was found among the modules "
                    "the settings loaded, so the archive would not know which configuration "
                    "to load before its settings. Create one in a module the settings import "
                    f"(config = {value.__name__}()), or name it with --config-object or "
                    "ZIPAPP_CONFIG_OBJECT as 'module:attribute'."
                )


def _defines(module: ModuleType, value: object, base: type) -> bool:
    return (
        isinstance(value, type) and issubclass(value, base) and value.__module__ == module.__name__
    )


def _is_project_module(module: ModuleType | None, root: Path) -> bool:
    # A virtualenv inside the project holds modules too; they are not the project's.
    file = getattr(module, "__file__", None)
    parts = set(Path(file).parts) if file else set()
    return _is_under(module, root) and not {"site-packages", "dist-packages"} & parts


def _candidate_modules(class_module: str, root: Path) -> list[str]:
    # The module that defines the config class first, then every other project module.
    others = sorted(
        name
        for name, module in list(sys.modules.items())
        if name != class_module and _is_under(module, root)
    )
    return [class_module, *others] if class_module in sys.modules else others


def _is_under(module: ModuleType | None, root: Path) -> bool:
    file = getattr(module, "__file__", None)
    return file is not None and Path(file).resolve().is_relative_to(root)


def _module_path(module: ModuleType) -> Path:
    file = module.__file__
    if file is None:
        raise BuildError(f"Cannot locate the package {module.__name__!r} on disk.")
    path = Path(file).resolve()
    return path.parent if path.name == "__init__.py" else path
