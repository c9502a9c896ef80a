"""DEBUG as the archive will have it, for W003: not as a development file turned it on.

The build imports the settings on a developer's machine, where a goodconf dev file, an
exported variable or a ``.env`` file loaded by python-dotenv, django-environ or
python-decouple may turn DEBUG on. None of those files is packed, so the archive's DEBUG
is what the settings give without them. Build time only.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from django.conf import settings

OBJECT_PATH = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*$")
# Environment files the build never packs (see builder.files.SKIPPED_FILES).
DOTENV_NAMES = (".env", ".env.*", "*.env")
ASSIGNMENT = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")
# In the child process that imports the settings again: the archive has no development
# file, so the loaders that would read one find nothing.
WITHOUT_DOTENV = """
import json, os, sys
sys.path.insert(0, os.getcwd())
for name in json.loads(sys.argv[1]):
    os.environ.pop(name, None)
try:
    import dotenv, dotenv.main
    dotenv.load_dotenv = dotenv.main.load_dotenv = lambda *args, **kwargs: False
except ImportError:
    pass
try:
    import environ
    environ.Env.read_env = classmethod(lambda cls, *args, **kwargs: None)
except ImportError:
    pass
try:
    import decouple
    read = decouple.RepositoryEnv.__init__
    def without_debug(self, *args, **kwargs):
        read(self, *args, **kwargs)
        for key in [key for key in self.data if "DEBUG" in key.upper()]:
            del self.data[key]
    decouple.RepositoryEnv.__init__ = without_debug
except (ImportError, AttributeError):
    pass
from django.conf import settings
print(json.dumps(bool(settings.DEBUG)))
"""


def archive_debug(settings_module: str, root: Path) -> bool:
    if not settings.DEBUG:
        return False
    from_config = _config_default()
    if from_config is not None:
        return from_config
    names = _debug_variables_from_dotenv(root)
    unpacked = _unpacked_settings_files(settings_module)
    if names or unpacked or _debug_from_decouple_dotenv():
        return _debug_without(names, settings_module, root, unpacked)
    return True


def _unpacked_settings_files(settings_module: str) -> list[Path]:
    """The modules beside the settings that git ignores, so the build never packs them:
    a ``local_settings.py`` that the settings import if it exists (django-split-settings'
    ``optional()``, ``try: from .local_settings import *``)."""
    from .builder.packing import git_ignored  # build time only, like this check

    module = sys.modules.get(settings_module)
    if module is None or module.__file__ is None:
        return []
    folder = Path(module.__file__).resolve().parent
    return [path for path in git_ignored(folder) if path.suffix == ".py" and path.is_file()]


def _config_default() -> bool | None:
    """The default of the goodconf field the settings copy DEBUG from, when they do: the
    build's own environment or development file may have turned it on."""
    config = _config_instance()
    fields = getattr(type(config), "model_fields", {})
    named = [name for name in fields if name.upper() in ("DEBUG", "DJANGO_DEBUG")]
    if len(named) != 1 or getattr(config, named[0], None) != settings.DEBUG:
        return None
    default = fields[named[0]].default
    return default if isinstance(default, bool) else None


def _config_instance() -> object | None:
    from goodconf import GoodConf

    named = getattr(settings, "ZIPAPP_CONFIG_OBJECT", None)
    if isinstance(named, str) and OBJECT_PATH.match(named):
        module_name, _, attribute = named.partition(":")
        return getattr(sys.modules.get(module_name), attribute, None)
    # Any module of the settings' package may hold it (`from mysite import conf`).
    module = settings.SETTINGS_MODULE or os.environ.get("DJANGO_SETTINGS_MODULE", "")
    package = module.split(".")[0]
    found = {
        id(value): value
        for name, loaded in list(sys.modules.items())
        if name == package or name.startswith(package + ".")
        for value in list(vars(loaded).values())
        if isinstance(value, GoodConf)
    }
    return next(iter(found.values())) if len(found) == 1 else None


def _debug_variables_from_dotenv(root: Path) -> list[str]:
    """The DEBUG variables that an unpacked .env file set in this build's environment."""
    names = []
    for path in sorted({*root.iterdir(), *Path.cwd().iterdir()}):
        if not path.is_file() or not any(fnmatch.fnmatch(path.name, p) for p in DOTENV_NAMES):
            continue
        for name, value in _assignments(path):
            if "DEBUG" in name.upper() and os.environ.get(name) == value:
                names.append(name)
    return names


def _debug_from_decouple_dotenv() -> bool:
    """Whether python-decouple's `config` read a DEBUG variable from a .env file: it keeps
    the file's values to itself, out of os.environ, where the function above looks."""
    decouple = sys.modules.get("decouple")
    loaded = getattr(getattr(decouple, "config", None), "config", None)
    repository = getattr(loaded, "repository", None)
    data = getattr(repository, "data", None)
    kind = getattr(decouple, "RepositoryEnv", None)
    return (
        isinstance(kind, type)
        and isinstance(repository, kind)
        and isinstance(data, dict)
        and any("DEBUG" in str(key).upper() for key in data)
    )


def _assignments(path: Path) -> list[tuple[str, str]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return []
    found = [ASSIGNMENT.match(line) for line in lines]
    return [(match[1], match[2].strip("'\"")) for match in found if match]


def _debug_without(
    names: list[str], settings_module: str, root: Path, unpacked: list[Path]
) -> bool:
    # The build's own import path: a manage.py may have added a src/ folder to it.
    path = os.pathsep.join(entry for entry in sys.path if entry)
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": settings_module, "PYTHONPATH": path}
    command = [sys.executable, "-c", WITHOUT_DOTENV, json.dumps(names)]
    with tempfile.TemporaryDirectory(prefix="buildpyz-debug-") as folder:
        # The settings' package as the archive has it, first on the path: a copy without
        # the modules the build does not pack.
        cwd = _package_without(settings_module, unpacked, Path(folder)) if unpacked else root
        try:
            result = subprocess.run(
                command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=120
            )
            return bool(json.loads(result.stdout.strip().splitlines()[-1]))
        except (OSError, subprocess.TimeoutExpired, ValueError, IndexError):
            return True  # the settings need more than the build has: judge them as loaded


def _package_without(settings_module: str, unpacked: list[Path], folder: Path) -> Path:
    top = sys.modules[settings_module.split(".")[0]]
    source = Path(str(top.__file__)).resolve()
    left_out = {path.resolve() for path in unpacked}

    def ignore(directory: str, names: list[str]) -> list[str]:
        return [n for n in names if n == "__pycache__" or Path(directory, n) in left_out]

    if source.name == "__init__.py":
        shutil.copytree(source.parent, folder / source.parent.name, ignore=ignore)
    else:
        shutil.copy2(source, folder / source.name)
    return folder
