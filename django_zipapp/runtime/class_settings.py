"""Settings written as django-configurations classes, loaded inside the archive.

Its ``manage.py`` and ``wsgi.py`` install django-configurations' importer before Django
imports the settings; the archive imports them itself, so it installs the importer
first, with the class the build ran with as the default ``DJANGO_CONFIGURATION``.
"""

from __future__ import annotations

import os
from typing import Any


def install_configuration_importer(build: dict[str, Any]) -> None:
    """Install django-configurations' importer when the build recorded a class."""
    configuration = build.get("configuration")
    if not configuration:
        return
    # The environment wins, as it does for DJANGO_SETTINGS_MODULE: one archive can
    # run as Staging on one host and Production on another.
    os.environ.setdefault("DJANGO_CONFIGURATION", configuration)
    from configurations import importer  # the project's dependency, in the archive

    importer.install()


def take_configuration_option(build: dict[str, Any], args: list[str]) -> None:
    """Honour django-configurations' ``--configuration NAME`` on a management command.

    Its importer adds the option to every command's parser, and its manage.py reads it
    before the settings load; the archive does the same, so the option is not accepted
    and then ignored.
    """
    if not build.get("configuration"):
        return
    for index, arg in enumerate(args):
        if arg.startswith("--configuration="):
            os.environ["DJANGO_CONFIGURATION"] = arg.partition("=")[2]
        elif arg == "--configuration" and index + 1 < len(args):
            os.environ["DJANGO_CONFIGURATION"] = args[index + 1]
