"""Apps whose production mode needs files generated at build time, by a build command.

django-compressor's offline mode is the common one: with COMPRESS_OFFLINE on, every page
with a {% compress %} tag fails (OfflineGenerationError) unless `compress` ran at build
time and its output is in the archive.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from django.apps import apps
from django.conf import settings


@dataclass(frozen=True)
class Generator:
    app: str  # as INSTALLED_APPS names it
    setting: str  # the setting that turns on the mode that needs the command
    command: str  # the build command that generates the files
    failure: str  # what the archive does without them


GENERATORS = (
    Generator(
        app="compressor",
        setting="COMPRESS_OFFLINE",
        command="compress",
        failure="every page with a {% compress %} tag would fail with OfflineGenerationError",
    ),
)


def missing_generators(build_commands: Sequence[str | Sequence[str]]) -> list[Generator]:
    """The generators whose mode is on but whose command the build would not run."""
    names = {_command_name(command) for command in build_commands}
    return [
        generator
        for generator in GENERATORS
        if apps.is_installed(generator.app)
        and getattr(settings, generator.setting, False) is True
        and generator.command not in names
    ]


def _command_name(command: str | Sequence[str]) -> str:
    words = shlex.split(command) if isinstance(command, str) else list(command)
    return str(words[0]) if words else ""
