"""System checks for the ZIPAPP_* settings and what the archive relies on."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.staticfiles.storage import ManifestFilesMixin
from django.core.checks import CheckMessage, Error, Warning
from django.core.checks.security.base import SECRET_KEY_MIN_LENGTH
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from .archive_debug import OBJECT_PATH, archive_debug
from .booted import in_archive
from .conf import (
    file_system_storages,
    from_base_dir,
    project_setting,
    staticfiles_storage_config,
    storage_config,
)
from .literals import binds_secret_key, string_literals

# The tag of the checks that judge the settings an archive runs with: buildpyz runs
# them, and so does `check --deploy`. In development a database next to manage.py and
# DEBUG are normal, so they are deployment checks.
ARCHIVE_TAG = "django_zipapp"


def check_settings(**kwargs: Any) -> list[CheckMessage]:
    if in_archive():
        # These settings configure building. A running archive has nothing to build, and
        # the files they name (a requirements file) stay on the build machine.
        return []
    return [
        *_check_strings(),
        *_check_compress(),
        *_check_config_object(),
        *_check_requirements(),
        *_check_static_storage(),
        *_check_lists(),
        *_check_processes(),
        *_check_asgi(),
    ]


def _check_strings() -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    for name in (
        "ZIPAPP_OUTPUT",
        "ZIPAPP_PYTHON",
        "ZIPAPP_REQUIREMENTS",
        "ZIPAPP_CONFIG_OBJECT",
        "ZIPAPP_SETTINGS_MODULE",
    ):
        value = getattr(settings, name, None)
        if value is not None and not isinstance(value, (str, Path)):
            errors.append(
                Error(
                    f"{name} must be a string, not {type(value).__name__}.",
                    hint=f"Set {name} to a string, or remove it to use the default.",
                    id="django_zipapp.E001",
                )
            )
    return errors


def _check_processes() -> list[CheckMessage]:
    from .conf import conf
    from .processes import DeclarationError, declared_processes

    try:
        declared_processes(conf.WORKERS, conf.JOBS)
    except DeclarationError as exc:
        return [
            Error(
                f"ZIPAPP_WORKERS or ZIPAPP_JOBS cannot be used: {exc}",
                hint="Declare each worker and job as described in the guide 'Background "
                "workers and scheduled jobs', for example ZIPAPP_JOBS = {'clearsessions': "
                "{'command': 'clearsessions', 'schedule': 'daily'}}.",
                id="django_zipapp.E011",
            )
        ]
    return []


def _check_compress() -> list[CheckMessage]:
    value = getattr(settings, "ZIPAPP_COMPRESS", True)
    if isinstance(value, bool):
        return []
    return [
        Error(
            f"ZIPAPP_COMPRESS must be True or False, not {value!r}.",
            hint="Set ZIPAPP_COMPRESS = True (the default) or False.",
            id="django_zipapp.E002",
        )
    ]


def _check_config_object() -> list[CheckMessage]:
    value = getattr(settings, "ZIPAPP_CONFIG_OBJECT", None)
    if not isinstance(value, str) or OBJECT_PATH.match(value):
        return []
    return [
        Error(
            f"ZIPAPP_CONFIG_OBJECT must name a goodconf instance as 'module:attribute', "
            f"not {value!r}.",
            hint="For a `config = AppConfig()` in myproject/conf.py, set "
            "ZIPAPP_CONFIG_OBJECT = 'myproject.conf:config'.",
            id="django_zipapp.E003",
        )
    ]


def _check_requirements() -> list[CheckMessage]:
    value = getattr(settings, "ZIPAPP_REQUIREMENTS", None)
    if not isinstance(value, (str, Path)) or Path(value).is_file():
        return []
    return [
        Error(
            f"ZIPAPP_REQUIREMENTS names {str(value)!r}, which is not a file.",
            hint="Point ZIPAPP_REQUIREMENTS at a requirements file or a pyproject.toml, "
            "or remove it to let buildpyz find one in the project.",
            id="django_zipapp.E004",
        )
    ]


def _check_static_storage() -> list[CheckMessage]:
    backend = staticfiles_storage_config()["BACKEND"]
    try:
        storage_class = import_string(backend)
    except ImportError:
        return []  # buildpyz names a backend that does not import, before it builds
    if issubclass(storage_class, ManifestFilesMixin):
        return []
    return [
        Warning(
            f"The static files storage {backend!r} does not hash file names, so the "
            "archive's static files cannot be cached by browsers for long.",
            hint="Set STORAGES['staticfiles']['BACKEND'] to "
            "'whitenoise.storage.CompressedManifestStaticFilesStorage'. If collectstatic then "
            "fails on a source map ('.map') that a package names but does not ship, use a "
            "subclass of it that does not rewrite sourceMappingURL comments, as the checks "
            "page of django-zipapp's docs shows under W001.",
            id="django_zipapp.W001",
        )
    ]


def _check_lists() -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    for name, example in (
        ("ZIPAPP_INCLUDE", '["data", "CHANGELOG.md"]'),
        ("ZIPAPP_BUILD_COMMANDS", '["compress", "compilemessages --ignore=node_modules"]'),
    ):
        value = getattr(settings, name, [])
        if not isinstance(value, (list, tuple)) or not all(_is_item(item) for item in value):
            errors.append(
                Error(
                    f"{name} must be a list of strings, not {value!r}.",
                    hint=f"Set {name} to a list such as {example}, or remove it.",
                    id="django_zipapp.E010",
                )
            )
    return errors


def check_generators(**kwargs: Any) -> list[CheckMessage]:
    """Files a production mode needs that only a build can generate (E013).

    A deployment check: in development (DEBUG on, runserver) django-compressor compresses
    on the fly, and the project has no reason to add a build command yet.
    """
    if in_archive():
        return []  # the build generated them, or refused
    from .conf import conf
    from .generators import missing_generators

    commands = conf.BUILD_COMMANDS if _check_lists() == [] else []
    return [
        Error(
            f"{generator.setting} is on but {generator.command!r} is not among "
            f"ZIPAPP_BUILD_COMMANDS, so in the archive {generator.failure}.",
            hint=f"Add {generator.command!r} to ZIPAPP_BUILD_COMMANDS (or build with "
            f"--build-command {generator.command}), so that the build generates its files.",
            id="django_zipapp.E013",
        )
        for generator in missing_generators(commands)
    ]


def _is_item(item: object) -> bool:
    if isinstance(item, (list, tuple)):  # a build command given as its words
        return bool(item) and all(isinstance(word, str) for word in item)
    return isinstance(item, (str, Path)) and bool(str(item).strip())


def check_archive_settings(**kwargs: Any) -> list[CheckMessage]:
    """What would break or lose data once the project runs from an archive."""
    if in_archive():
        return []  # the build checked these; the paths here are the extraction's
    root = project_root()
    return [
        *_check_databases(root),
        *_check_media_root(root),
        *_check_writable_paths(root),
        *_check_relative_dirs(),
        *_check_staticfiles_app(),
        *_check_secret_key(root),
        *_check_debug(root),
    ]


def project_root() -> Path:
    """The directory the archive packs: BASE_DIR, else the settings package's parent."""
    base_dir = getattr(settings, "BASE_DIR", None)
    if base_dir is not None:
        return Path(base_dir).resolve()
    top = Path(str(sys.modules[settings_module().split(".")[0]].__file__)).resolve()
    return top.parent.parent if top.name == "__init__.py" else top.parent


def settings_module() -> str:
    # Under override_settings, SETTINGS_MODULE is the holder's None.
    return settings.SETTINGS_MODULE or os.environ.get("DJANGO_SETTINGS_MODULE", "")


def _inside(path: Any, root: Path) -> bool:
    if not path or not isinstance(path, (str, Path)) or str(path).startswith("file:"):
        return False
    resolved = Path(path)
    return resolved.is_absolute() and resolved.resolve().is_relative_to(root)


def _check_databases(root: Path) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    for alias, database in settings.DATABASES.items():
        name = database.get("NAME")
        if "sqlite" in database.get("ENGINE", "") and _inside(name, root):
            setting = f"DATABASES[{alias!r}]['NAME']"
            errors.append(
                Error(
                    f"{setting} is {str(name)!r}, inside the project directory that is packed "
                    "into the archive: the database would live in the folder the archive "
                    "unpacks itself into, which the next deploy removes, with the data.",
                    hint=f"Set {setting} to a path outside the project that the server keeps, "
                    "read from the configuration or the environment, for example "
                    "Path(os.environ['STATE_DIRECTORY']) / 'db.sqlite3' under systemd's "
                    "StateDirectory=.",
                    id="django_zipapp.E005",
                )
            )
    return errors


def _check_media_root(root: Path) -> list[CheckMessage]:
    errors = [_media_error("MEDIA_ROOT", getattr(settings, "MEDIA_ROOT", ""), root)]
    for alias, location in file_system_storages():
        if location is None:
            continue  # it writes to MEDIA_ROOT, checked above
        options = storage_config(alias).get("OPTIONS") or {}
        if options.get("location"):
            setting = f"STORAGES[{alias!r}]['OPTIONS']['location']"
            errors.append(_media_error(setting, location, root))
        else:
            errors.append(_computed_location_error(alias, location, root))
    return [error for error in errors if error is not None]


def _media_error(setting: str, media_root: Any, root: Path) -> CheckMessage | None:
    if not _inside(media_root, root):
        return None
    return Error(
        f"{setting} is {str(media_root)!r}, inside the project directory that is packed "
        "into the archive: uploads would land in the folder the archive unpacks itself "
        "into, which the next deploy removes.",
        hint=f"Set {setting} to a directory outside the project that the server keeps, "
        "read from the configuration or the environment (systemd's STATE_DIRECTORY), "
        "or store uploads elsewhere with STORAGES['default'].",
        id="django_zipapp.E006",
    )


def _computed_location_error(alias: str, location: str, root: Path) -> CheckMessage | None:
    if not _inside(location, root):
        return None
    backend = storage_config(alias).get("BACKEND", "")
    return Error(
        f"STORAGES[{alias!r}] keeps its files in {location!r}, as its backend {backend!r} "
        "computes it, inside the project directory that is packed into the archive: they "
        "would land in the folder the archive unpacks itself into, which the next deploy "
        "removes.",
        hint="Make that location a directory outside the project that the server keeps: "
        "the setting the backend reads it from, read from the configuration or the "
        "environment (systemd's STATE_DIRECTORY), or "
        f"STORAGES[{alias!r}]['OPTIONS']['location'].",
        id="django_zipapp.E006",
    )


def _writable_paths() -> list[tuple[str, Any]]:
    named = [
        (name, project_setting(name))
        for name in ("FILE_UPLOAD_TEMP_DIR", "SESSION_FILE_PATH", "EMAIL_FILE_PATH")
    ]
    for alias, cache in settings.CACHES.items():
        if cache.get("BACKEND", "").endswith("FileBasedCache"):
            named.append((f"CACHES[{alias!r}]['LOCATION']", cache.get("LOCATION")))
    handlers = (getattr(settings, "LOGGING", None) or {}).get("handlers", {})
    for handler_name, handler in handlers.items():
        if isinstance(handler, dict) and "filename" in handler:
            setting = f"LOGGING['handlers'][{handler_name!r}]['filename']"
            named.append((setting, handler["filename"]))
    return named


def _check_writable_paths(root: Path) -> list[CheckMessage]:
    return [
        Error(
            f"{setting} is {str(path)!r}, inside the project directory that is packed into "
            "the archive: what is written there would land in the folder the archive unpacks "
            "itself into, which the next deploy removes.",
            hint=f"Set {setting} to a path outside the project, read from the configuration "
            "or the environment (systemd's STATE_DIRECTORY, LOGS_DIRECTORY or "
            "RUNTIME_DIRECTORY).",
            id="django_zipapp.E007",
        )
        for setting, path in _writable_paths()
        if _inside(path, root)
    ]


def _named_dirs() -> list[tuple[str, Any]]:
    named: list[tuple[str, Any]] = []
    for engine in settings.TEMPLATES:
        named.extend(("TEMPLATES['DIRS']", path) for path in engine.get("DIRS", []))
    for setting in ("STATICFILES_DIRS", "LOCALE_PATHS", "FIXTURE_DIRS"):
        for entry in getattr(settings, setting, ()):
            # STATICFILES_DIRS entries may be (prefix, path) pairs.
            path = entry[1] if isinstance(entry, (tuple, list)) else entry
            named.append((setting, path))
    return named


def _check_relative_dirs() -> list[CheckMessage]:
    return [
        Error(
            f"{setting} contains the relative path {str(path)!r}, which is read from the "
            "directory the site is started in, not from the archive.",
            hint=f"Build the path from BASE_DIR, for example {from_base_dir(str(path))}.",
            id="django_zipapp.E008",
        )
        for setting, path in _named_dirs()
        if isinstance(path, (str, Path)) and not Path(path).is_absolute()
    ]


def _check_staticfiles_app() -> list[CheckMessage]:
    from django.apps import apps

    if apps.is_installed("django.contrib.staticfiles") and settings.STATIC_URL:
        return []
    return [
        Error(
            "INSTALLED_APPS lacks 'django.contrib.staticfiles' or STATIC_URL is not set, so "
            "buildpyz cannot collect the static files that the archive serves with whitenoise.",
            hint="Add 'django.contrib.staticfiles' to INSTALLED_APPS and set STATIC_URL "
            "(for example 'static/').",
            id="django_zipapp.E009",
        )
    ]


def _check_secret_key(root: Path) -> list[CheckMessage]:
    try:
        key = settings.SECRET_KEY
    except ImproperlyConfigured:
        return []  # empty at build time: it comes from the host, as it should
    if not isinstance(key, str) or not key:
        return []  # Django's own checks report a missing key
    source = _key_source(key, root)
    if source is None:
        return []
    return [
        Warning(
            f"SECRET_KEY is written literally in {source.relative_to(root).as_posix()!r}, "
            "which is packed into the archive: anyone with the archive could sign sessions "
            "and tokens of the site.",
            hint="Read SECRET_KEY from the environment or the project's goodconf "
            "configuration (SECRET_KEY = os.environ['SECRET_KEY']), and keep a literal key "
            "in the development settings only.",
            id="django_zipapp.W002",
        )
    ]


def _key_source(key: str, root: Path) -> Path | None:
    """The file that writes the key: a statement naming SECRET_KEY binds it there.

    A string literal equal to the key, however short: a fallback such as
    os.environ.get("SECRET_KEY", "---") is as literal as SECRET_KEY = "...". But a short
    value also turns up where it means something else ("---" in a model's choices): only
    a literal as long as a real key counts without SECRET_KEY beside it.
    """
    holders = [path for path in _key_files(root) if _holds_literal(path, key)]
    bound = [path for path in holders if binds_secret_key(path, key)]
    if bound:
        return bound[0]
    return holders[0] if holders and len(key) >= SECRET_KEY_MIN_LENGTH else None


def _key_files(root: Path) -> list[Path]:
    """Every module of the settings' folder (a settings package's base.py, production.py,
    dev.py, imported or not, and files split-settings runs), then every project module."""
    settings_files = _settings_files(root)
    return [*settings_files, *(p for p in _project_module_files(root) if p not in settings_files)]


def _settings_files(root: Path) -> list[Path]:
    module = sys.modules.get(settings_module())
    file = getattr(module, "__file__", None)
    if not file:
        return []
    folder = Path(file).resolve().parent
    if not folder.is_relative_to(root):
        return []
    # The project's root holds more than settings: only its own files, not its packages.
    found = folder.glob("*.py") if folder == root else folder.rglob("*.py")
    return sorted(path for path in found if _is_project_file(path, root))


def _project_module_files(root: Path) -> list[Path]:
    # Not manage.py (__main__): it may hold a development key; the archive never runs it.
    files = {
        Path(str(module.__file__)).resolve()
        for name, module in list(sys.modules.items())
        if getattr(module, "__file__", None) and name != "__main__"
    }
    return sorted(path for path in files if _is_project_file(path, root))


def _is_project_file(path: Path, root: Path) -> bool:
    # A virtualenv inside the project holds modules too; they are not the project's.
    return (
        path.is_relative_to(root)
        and path.suffix == ".py"
        and path.name != "manage.py"
        and not {"site-packages", "dist-packages"} & set(path.parts)
    )


def _holds_literal(path: Path, key: str) -> bool:
    try:
        if key.encode() not in path.read_bytes():
            return False  # most files: no need to parse them
    except OSError:
        return False
    return any(node.value == key for node in string_literals(path))


def _check_debug(root: Path) -> list[CheckMessage]:
    if not archive_debug(settings_module(), root):
        return []
    return [
        Warning(
            f"DEBUG is on in the settings the archive runs with ({settings_module()!r}): "
            "errors would show code and settings to visitors.",
            hint="Set DEBUG = False in the production settings, or read it from the "
            "configuration; build with those settings (--settings-module or "
            "ZIPAPP_SETTINGS_MODULE).",
            id="django_zipapp.W003",
        )
    ]


def check_modules(**kwargs: Any) -> list[CheckMessage]:
    """Two owners of one top-level module: one hides the other, here and in the archive."""
    if in_archive():
        return []  # the build refused such an archive
    from .collisions import find_collisions, installed_providers, project_collisions

    root = project_root()
    providers = installed_providers()
    found = [
        *find_collisions(providers),
        *project_collisions(root, _project_modules(root), providers),
    ]
    return [
        Error(collision.problem(), hint=collision.way_out(), id="django_zipapp.E012")
        for collision in found
    ]


def _project_modules(root: Path) -> list[str]:
    return [
        path.stem
        for path in root.iterdir()
        if (path.suffix == ".py" and path.stem.isidentifier() and path.stem != "manage")
        or (path.name.isidentifier() and (path / "__init__.py").is_file())
    ]


def _check_asgi() -> list[CheckMessage]:
    named = getattr(settings, "ASGI_APPLICATION", None)
    if not named or getattr(settings, "ZIPAPP_ASGI", False):
        return []
    return [
        Warning(
            f"ASGI_APPLICATION is {named!r}, but ZIPAPP_ASGI is not set: the archive's serve "
            "would run the site's WSGI application, where websockets are refused and every "
            "async view holds a worker thread.",
            hint="Set ZIPAPP_ASGI = True to pack the ASGI worker (uvicorn-worker) and serve "
            "ASGI_APPLICATION; or remove ASGI_APPLICATION if the site is served under WSGI.",
            id="django_zipapp.W004",
        )
    ]
