"""The settings module manage.py and the WSGI module each default to.

startproject writes ``os.environ.setdefault("DJANGO_SETTINGS_MODULE", ...)`` into both.
A project with a settings package often has them differ: manage.py defaults to the
development module, wsgi.py to the production one that its server ran. ``buildpyz`` run
as ``python manage.py buildpyz`` builds with manage.py's, and the archive serves with it,
whatever wsgi.py says (the archive sets DJANGO_SETTINGS_MODULE before wsgi.py runs), so
the build says so.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

_DEFAULT = re.compile(
    r"""os\.environ\.setdefault\(\s*["']DJANGO_SETTINGS_MODULE["']\s*,\s*["']([\w.]+)["']"""
)
# django-configurations' class, set the same way beside the settings module.
_CLASS_DEFAULT = re.compile(
    r"""os\.environ\.setdefault\(\s*["']DJANGO_CONFIGURATION["']\s*,\s*["'](\w+)["']"""
)


def settings_module_note(root: Path, settings_module: str, wsgi_application: str) -> str | None:
    """A note when the build runs under manage.py's default settings module and the
    WSGI module defaults to another one; None otherwise (an explicit --settings)."""
    found = _other_default(root, settings_module, wsgi_application, _DEFAULT)
    if found is None:
        return None
    wsgi_file, wsgi_default = found
    return (
        f"Note: the archive runs with the settings module {settings_module!r}, manage.py's "
        f"default; {_shown(wsgi_file, root)}, whose application a server runs, defaults "
        f"to {wsgi_default!r}. If that is the production one, build with `python manage.py "
        f"buildpyz --settings-module {wsgi_default}` (or set ZIPAPP_SETTINGS_MODULE)"
    )


def configuration_note(root: Path, configuration: str, wsgi_application: str) -> str | None:
    """The same note for django-configurations' class (DJANGO_CONFIGURATION)."""
    found = _other_default(root, configuration, wsgi_application, _CLASS_DEFAULT)
    if found is None:
        return None
    wsgi_file, wsgi_default = found
    return (
        f"Note: the archive runs with the settings class {configuration!r}, manage.py's "
        f"default DJANGO_CONFIGURATION; {_shown(wsgi_file, root)}, whose application a "
        f"server runs, defaults to {wsgi_default!r}. If that is the production one, build "
        f"with `DJANGO_CONFIGURATION={wsgi_default} python manage.py buildpyz`"
    )


def _other_default(
    root: Path, used: str, wsgi_application: str, pattern: re.Pattern[str]
) -> tuple[Path, str] | None:
    """The WSGI module's file and its default, when the build used manage.py's default
    (``used``) and the WSGI module defaults to another value."""
    wsgi_file = _module_file(wsgi_application.rpartition(".")[0])
    if _default_in(root / "manage.py", pattern) != used or wsgi_file is None:
        return None
    wsgi_default = _default_in(wsgi_file, pattern)
    if wsgi_default is None or wsgi_default == used:
        return None
    return wsgi_file, wsgi_default


def _shown(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _default_in(path: Path, pattern: re.Pattern[str] = _DEFAULT) -> str | None:
    try:
        found = pattern.search(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return None
    return found[1] if found else None


def _module_file(module: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(module) if module else None
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        return None
    return Path(spec.origin)
