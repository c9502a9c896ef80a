"""The environment variables a site's settings read, and how the verification is given one.

They are observed, not guessed: a new interpreter imports the settings module with
``os.environ`` watched (``os.getenv`` and django-environ read through it), and adds
the fields of the project's goodconf class, which pydantic reads from the whole
environment at once. The build records the names (``info`` lists them); when the
verification fails over one of them, its message says how to give it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Collection, Mapping

from .class_settings import configuration_class

# Read on the way to the settings, not by them.
NOT_THE_SITES = re.compile(r"DJANGO_SETTINGS_MODULE|DJANGO_ZIPAPP_.*|PYTHON.*|PYDANTIC_.*|_.*")
# A read from the standard library (HOME for expanduser, sysconfig's own) is not the
# site's: the first frame outside os and the Mapping methods says who asked.
OBSERVE_SCRIPT = """\
import _collections_abc, importlib, json, os, sys, sysconfig
sys.path[:] = json.loads(sys.argv[1])
stdlib = sysconfig.get_paths()["stdlib"]
passing = {os.__file__, _collections_abc.__file__, "<string>"}
project = set(json.loads(sys.argv[4]))
read = []
def by_the_site():
    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_filename in passing:
        frame = frame.f_back
    name = frame.f_code.co_filename if frame is not None else ""
    site = not name.startswith(stdlib) or "-packages" in name
    return site and not imported_by(frame) and not loading_a_dotenv(frame)
def imported_by(frame):
    # A library that reads the environment while it is imported (celery's, kombu's,
    # click's own switches) is read at import time, not by the settings: the module
    # whose top level runs the read must be one of the project's.
    while frame is not None and frame.f_code.co_name != "<module>":
        if frame.f_globals.get("__name__") == "configurations.importer":
            return False  # django-configurations sets the settings' class up here
        frame = frame.f_back
    if frame is None:
        return False
    module = str(frame.f_globals.get("__name__", ""))
    return module.partition(".")[0] not in project
# A .env loader that fills the environment from its file (django-environ's read_env,
# python-dotenv's load_dotenv) looks each of the file's variables up: the settings read
# afterwards those they use.
LOADERS = {("environ", "read_env"), ("dotenv", "set_as_environment_variables")}
def loading_a_dotenv(frame):
    while frame is not None:
        module = str(frame.f_globals.get("__name__", "")).partition(".")[0]
        if (module, frame.f_code.co_name) in LOADERS:
            return True
        frame = frame.f_back
    return False
class Watched(type(os.environ)):
    def __getitem__(self, key):
        if key not in read and by_the_site():
            read.append(key)
        return super().__getitem__(key)
os.environ.__class__ = Watched
failed = None
try:
    if sys.argv[5]:  # settings written as django-configurations classes
        from configurations import importer
        importer.install()
    importlib.import_module(sys.argv[2])
except BaseException as exc:  # reported, not raised: the build says it its own way
    failed = f"{type(exc).__name__}: {exc}"
os.environ.__class__ = Watched.__mro__[1]
fields = []
if sys.argv[3]:
    try:
        module, _, name = sys.argv[3].partition(":")
        config = getattr(importlib.import_module(module), name)
        prefix = type(config).model_config.get("env_prefix") or ""
        fields = [f"{prefix}{field}".upper() for field in type(config).model_fields]
    except Exception:
        pass
print(json.dumps({"read": read, "fields": fields, "failed": failed}))
"""


class Observation:
    """The settings module imported in a new interpreter, meanwhile the build goes on."""

    def __init__(
        self, settings_module: str, config_object: str | None, packages: Collection[str] = ()
    ) -> None:
        environment = {**os.environ, "DJANGO_SETTINGS_MODULE": settings_module}
        # The project's top-level modules: what their code reads is the site's.
        names = sorted({settings_module.partition(".")[0], *packages})
        arguments = [
            json.dumps(sys.path),
            settings_module,
            config_object or "",
            json.dumps(names),
            configuration_class(settings_module) or "",
        ]
        self.process = subprocess.Popen(
            [sys.executable, "-c", OBSERVE_SCRIPT, *arguments],
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    def names(self) -> list[str]:
        """The variables read, in the order the settings read them; goodconf's fields after."""
        try:
            stdout, _ = self.process.communicate(timeout=120)
            found = json.loads(stdout.strip().splitlines()[-1])
        except (subprocess.TimeoutExpired, ValueError, IndexError):
            self.cancel()
            return []  # settings that print or hang: nothing recorded, the build goes on
        names = [*found["read"], *found["fields"]]
        return [name for name in dict.fromkeys(names) if not NOT_THE_SITES.fullmatch(name)]

    def cancel(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()
        elif self.process.stdout is not None:
            # Finished but never read (the build stopped before names()): its pipe
            # would be left open until exit, a ResourceWarning in development mode.
            self.process.stdout.close()


# What serve refuses, by the words of its refusal: the setting, and a value that passes.
REFUSED_SETTINGS = {
    "DEBUG is on": ("DEBUG", "False"),
    "SECRET_KEY is insecure": ("SECRET_KEY", "VALUE"),
}


def missing_variables(output: str, read: Collection[str], given: Mapping[str, str]) -> list[str]:
    """The variables the settings read that the verification did not give and the failure
    names; for a setting serve refuses (DEBUG on), the variables named like it."""
    refused = [name for words, (name, _) in REFUSED_SETTINGS.items() if words in output]
    return [
        name
        for name in read
        if name not in given
        and (
            re.search(rf"\b{re.escape(name)}\b", output)
            or any(setting in name for setting in refused)
        )
    ]


def way_in(names: list[str], output: str) -> str:
    """How to give the verification those variables, as a sentence to add to its error."""
    if not names:
        return ""
    options = " ".join(f"--verify-env {name}={_value_for(name, output)}" for name in names)
    several = len(names) > 1
    return (
        f"The settings read the environment variable{'s' if several else ''} "
        f"{', '.join(names)}, which the verification does not give (it starts the archive "
        f"without the build's environment): give {'them' if several else 'it'} as the "
        f"server does, with `python manage.py buildpyz {options}` (repeatable), or in "
        "ZIPAPP_VERIFY_ENV, the setting (a dict) or the environment variable (NAME=VALUE "
        "pairs). "
    )


def _value_for(name: str, output: str) -> str:
    for words, (setting, value) in REFUSED_SETTINGS.items():
        if words in output and setting in name:
            return value
    return "VALUE"
