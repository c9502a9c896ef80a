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


def settings_module_note(root: Path, settings_module: str, wsgi_application: str) -> str | None:
    """A note when the build runs under manage.py's default settings module and the
    WSGI module defaults to another one; None otherwise (an explicit --settings)."""
    manage_default = _default_in(root / "manage.py")
    wsgi_file = _module_file(wsgi_application.rpartition(".")[0])
    if manage_default != settings_module or wsgi_file is None:
        return None
    wsgi_default = _default_in(wsgi_file)
    if wsgi_default is None or wsgi_default == settings_module:
        return None
    try:
        shown = wsgi_file.relative_to(root).as_posix()
    except ValueError:
        shown = str(wsgi_file)
    return (
        f"Note: the archive runs with the settings module {settings_module!r}, manage.py's "
        f"default; {shown}, whose application a server runs, defaults to {wsgi_default!r}. "
        "If that is the production one, build with `python manage.py buildpyz --settings "
        f"{wsgi_default}` (or set ZIPAPP_SETTINGS_MODULE)"
    )


def _default_in(path: Path) -> str | None:
    try:
        found = _DEFAULT.search(path.read_text(encoding="utf-8"))
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
