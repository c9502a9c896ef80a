"""A settings module that cannot load for want of configuration, said in one paragraph.

Settings that read the environment stop at import when a value is missing: a
``KeyError`` from ``os.environ["NAME"]``, django-environ's ``ImproperlyConfigured``
("Set the NAME environment variable"), or python-decouple's ``UndefinedValueError``
("NAME not found. Declare it as envvar or define a default value."), or
django-configurations' ``ValueError`` ("Value 'SECRET_KEY' is required to be set as
the environment variable 'DJANGO_SECRET_KEY'"). A value that python-decouple or
django-environ cannot cast as the settings ask (``config("DEBUG", cast=bool)`` given
``DEBUG=maybe``) fails the same way, with the library's ``ValueError``. On a server
that is the operator's mistake, not a fault in the code, so it gets an error line
instead of a traceback; any other exception is the project's code failing, and keeps
its traceback.
"""

from __future__ import annotations

import os
import traceback
from pathlib import Path
from types import TracebackType
from typing import Any

from .config import ConfigError


def settings_error(
    exc: BaseException, build: dict[str, Any], site_packages: Path, prog: str
) -> ConfigError | None:
    """The ConfigError that explains exc, raised while importing the settings; None when
    exc is not about the configuration."""
    module = os.environ.get("DJANGO_SETTINGS_MODULE", build.get("settings_module", ""))
    said = settings_failure(exc, module, site_packages, build.get("python_path", []))
    if said is None:
        return None
    # Not the list itself: the build's verification names the variables of its output
    # that it was not given, and would take the whole list for missing ones.
    listed = f" `{prog} info` lists every variable they read." if build.get("environment") else ""
    return ConfigError(
        f"The settings module {module!r} could not be loaded: {said}. Set the "
        "variable in the environment this command runs in (for the service: "
        f"`{prog} systemd-unit --env-file PATH` or `--setenv NAME=VALUE`).{listed}"
    )


def settings_failure(
    exc: BaseException, module: str, root: Path, python_path: list[str]
) -> str | None:
    """What of the configuration exc says is missing or refused, with the project's line
    ("Set the NAME environment variable (config/settings/base.py, line 8)"), the project's
    files under root; None when exc is not about the configuration."""
    from django.core.exceptions import ImproperlyConfigured

    if isinstance(exc, KeyError) and _unset_variable(exc):
        what = f"it reads the environment variable {exc.args[0]}, which is not set"
    elif _undefined_in_decouple(exc):
        name = str(exc).partition(" not found")[0]
        what = f"it reads the environment variable {name}, which is not set"
    elif isinstance(exc, ImproperlyConfigured) and _raised_by_settings(exc, module):
        what = str(exc).rstrip(".")
    elif _unset_in_configurations(exc):
        what = " ".join(str(exc).split()).rstrip(".")
    elif (cast := _variable_not_cast(exc)) is not None:
        what = (
            f"it reads the environment variable {cast}, whose value it cannot use "
            f"({type(exc).__name__}: {str(exc).rstrip('.')})"
        )
    else:
        return None
    return what + _where(exc.__traceback__, root, module, python_path)


def _undefined_in_decouple(exc: BaseException) -> bool:
    # Named, not imported: python-decouple is the project's dependency, not ours.
    kind = type(exc)
    return kind.__module__ == "decouple" and kind.__name__ == "UndefinedValueError"


# The function of python-decouple and of django-environ that reads one variable and
# casts its value, and the name of its argument that holds the variable's name.
_READERS = {("decouple.py", "get"): "option", ("environ.py", "get_value"): "var"}


def _variable_not_cast(exc: BaseException) -> str | None:
    """The variable whose value the library reading it failed to cast: a ValueError
    raised inside (or below) its reader, which knows the variable's name."""
    if not isinstance(exc, ValueError):
        return None
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        argument = _READERS.get((Path(code.co_filename).name, code.co_name))
        name = tb.tb_frame.f_locals.get(argument) if argument else None
        if isinstance(name, str):
            return name
        tb = tb.tb_next
    return None


def _unset_in_configurations(exc: BaseException) -> bool:
    # django-configurations raises a plain ValueError from its values module when a
    # value required from the environment (values.SecretValue, environ_required) is unset.
    frames = traceback.extract_tb(exc.__traceback__)
    return (
        isinstance(exc, ValueError)
        and bool(frames)
        and Path(frames[-1].filename).match("configurations/values.py")
    )


def _unset_variable(exc: KeyError) -> bool:
    key = exc.args[0] if len(exc.args) == 1 else None
    return isinstance(key, str) and key not in os.environ and _raised_by_environ(exc)


def _raised_by_environ(exc: BaseException) -> bool:
    # The last frame of a missing os.environ key is os.py's __getitem__.
    frames = traceback.extract_tb(exc.__traceback__)
    return bool(frames) and Path(frames[-1].filename).name in ("os.py", "<frozen os>")


def _raised_by_settings(exc: BaseException, module: str) -> bool:
    # An ImproperlyConfigured from Django's own setup after the import is not the
    # settings': only one raised while the settings module (or one it imports) ran.
    top = module.split(".")[0]
    return any(
        f"/{top}/" in frame.filename or frame.filename.endswith(f"/{top}.py")
        for frame in traceback.extract_tb(exc.__traceback__)
    )


def _where(tb: TracebackType | None, root: Path, module: str, python_path: list[str]) -> str:
    """ " (config/settings/base.py, line 8)": the project's last frame on the way."""
    top = module.split(".")[0]
    found = ""
    for frame in traceback.extract_tb(tb):
        path = Path(frame.filename)
        if path.is_relative_to(root):
            relative = path.relative_to(root)
            # In a src layout the package is in src/ (a folder of python_path).
            parts = relative.parts[1:] if relative.parts[0] in python_path else relative.parts
            if parts and parts[0] in (top, f"{top}.py"):
                found = f" ({relative.as_posix()}, line {frame.lineno})"
    return found
