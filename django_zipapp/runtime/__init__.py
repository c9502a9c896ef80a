"""Everything that runs inside an archive once shiv has extracted it.

Nothing here imports the builder, shiv or pip: they are not in the archive.
"""

from __future__ import annotations

import gc
import os
import sys
from importlib import import_module
from pathlib import Path
from typing import Any

from .archive import Archive
from .class_settings import take_configuration_option
from .config import ConfigError, split_config_option
from .database_errors import EXIT_UNAVAILABLE, database_unreachable
from .no_builder import MESSAGE, BuilderNotInArchive, mark_inside_archive
from .source_roots import put_source_roots_on_path

# sysexits' EX_CONFIG: a unit can list it in RestartPreventExitStatus= so that a bad
# configuration is reported once instead of restarting in a loop.
EXIT_CONFIG_ERROR = 78
# A command that builds archives, asked of one: the builder is not in it (no_builder.py).
EXIT_NO_BUILDER = 1
BUILD_COMMANDS = frozenset({"buildpyz"})

HELP = """\
usage: {prog} [-C FILE] COMMAND [ARGS...]

The Django site {project!r}, packed in one file.

commands:
  serve          serve the site with gunicorn (see '{prog} serve --help')
  info           what this archive holds and was built for ('--json' for machines,
                 '--sbom' its CycloneDX SBOM, '--provenance' an in-toto statement)
  prepare        unpack this build now, while the previous one still serves
                 ('--check' reads every unpacked file, and repairs what differs)
  config         a sample config file, or check or show the configuration
  systemd-unit   print a hardened systemd unit for this archive ('--socket' for a
                 socket-activated one)
  systemd-run COMMAND
                 run a command beside the installed service, in its sandbox and as
                 its user: '{prog} systemd-run migrate --noinput' (as root)
  run NAME ...   run a console script the archive carries (celery, ...) with the
                 site's configuration; 'run -m MODULE' for a module, 'run --help' lists them
  COMMAND        any Django management command, as with manage.py:
                 '{prog} migrate --noinput', '{prog} createsuperuser', ...
  help           list every Django management command

options:
  -C, --config FILE
                 a YAML, TOML or JSON config file; environment variables win over it
"""


# The archive's own commands, beside Django's: each module has
# ``run(archive: Archive, argv: list[str]) -> int``.
ARCHIVE_COMMANDS = {
    "serve": "django_zipapp.runtime.serve",
    "info": "django_zipapp.runtime.info",
    "prepare": "django_zipapp.runtime.prepare",
    "systemd-unit": "django_zipapp.runtime.systemd",
    "systemd-run": "django_zipapp.runtime.service_run",
    "config": "django_zipapp.runtime.config_command",
    "run": "django_zipapp.runtime.run",
}


def main(build: dict[str, Any], site_packages: Path, argv: list[str]) -> int:
    prog = Path(sys.argv[0]).name
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", build["settings_module"])
    config_file, args = split_config_option(argv)
    if not args or args[0] in ("-h", "--help"):
        print(HELP.format(prog=prog, project=build.get("project", "")), end="")
        return 0
    mark_inside_archive()
    put_source_roots_on_path(build, site_packages)
    if args[0] in BUILD_COMMANDS:  # before the configuration, which the refusal needs not
        print(f"error: {MESSAGE.format(what=args[0])}", file=sys.stderr)
        return EXIT_NO_BUILDER
    archive = Archive(build, site_packages, prog, config_file)
    if args[0] != "serve":
        gc.enable()  # off while the archive boots; serve turns it on once the site is loaded
    try:
        if args[0] in ARCHIVE_COMMANDS:
            command = import_module(ARCHIVE_COMMANDS[args[0]])
            return int(command.run(archive, args[1:]))
        return _django_command(archive, args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    except BuilderNotInArchive as exc:  # a command of the project that imports the builder
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_NO_BUILDER
    except Exception as exc:  # a database that cannot be reached; anything else is re-raised
        unreachable = database_unreachable(exc, args)
        if unreachable is None:
            raise
        print(f"error: {unreachable}", file=sys.stderr)
        return EXIT_UNAVAILABLE


def _django_command(archive: Archive, args: list[str]) -> int:
    archive.load_config()
    take_configuration_option(archive.build, args)
    archive.point_settings_at_archive()
    from django.core.management import execute_from_command_line

    execute_from_command_line([archive.prog, *args])
    return 0
