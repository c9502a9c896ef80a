"""Everything that runs inside an archive once shiv has extracted it.

Nothing here imports the builder, shiv or pip: they are not in the archive.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from .config import ConfigError, load_config, split_config_option

# sysexits' EX_CONFIG: a unit can list it in RestartPreventExitStatus= so that a bad
# configuration is reported once instead of restarting in a loop.
EXIT_CONFIG_ERROR = 78

HELP = """\
usage: {prog} [-C FILE] COMMAND [ARGS...]

The Django site {project!r}, packed in one file.

commands:
  serve          serve the site with gunicorn (see '{prog} serve --help')
  COMMAND        any Django management command, as with manage.py:
                 '{prog} migrate --noinput', '{prog} createsuperuser', ...
  help           list every Django management command

options:
  -C, --config FILE
                 a YAML, TOML or JSON config file; environment variables win over it
"""


def main(build: dict[str, Any], site_packages: Path, argv: list[str]) -> int:
    prog = Path(sys.argv[0]).name
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", build["settings_module"])
    config_file, args = split_config_option(argv)
    if not args or args[0] in ("-h", "--help"):
        print(HELP.format(prog=prog, project=build.get("project", "")), end="")
        return 0
    # serve's own options first: --help and a bad option need no configuration.
    serve_options = _parse_serve_options(prog, args[1:]) if args[0] == "serve" else None
    try:
        config = _load_config(build, config_file)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    _point_settings_at_archive(build, site_packages)
    if serve_options is not None:
        from .serve import serve

        return serve(
            serve_options,
            prog=prog,
            config=config,
            load_application=lambda: _wsgi_application(site_packages),
        )
    from django.core.management import execute_from_command_line

    execute_from_command_line([prog, *args])
    return 0


def _parse_serve_options(prog: str, argv: list[str]) -> argparse.Namespace:
    from .serve import build_parser

    return build_parser(prog).parse_args(argv)


def _load_config(build: dict[str, Any], config_file: str | None) -> object | None:
    object_path = build.get("config_object")
    if object_path is None:
        if config_file is not None:
            raise ConfigError(
                f"-C/--config was given, but this archive's project has no goodconf "
                f"configuration, so {config_file!r} cannot be used."
            )
        return None
    return load_config(object_path, config_file)


def _point_settings_at_archive(build: dict[str, Any], site_packages: Path) -> None:
    # The collected static files are inside the extraction, wherever that is on this
    # host; the manifest storage and whitenoise must read them there. The directories
    # they were collected from are build inputs and stay on the build machine.
    from django.conf import settings

    settings.STATIC_ROOT = str(site_packages / build["static"]["root"])
    settings.STATICFILES_DIRS = []


def _wsgi_application(site_packages: Path) -> Any:
    from django.conf import settings
    from django.core.servers.basehttp import get_internal_wsgi_application
    from django.db import connections

    from .static import read_static_index, wrap_with_static

    application = get_internal_wsgi_application()
    # Loaded once in gunicorn's master before the workers fork: a connection an app opened
    # while loading must not be shared by every worker.
    connections.close_all()
    return wrap_with_static(
        application,
        static_root=Path(str(settings.STATIC_ROOT)),
        static_url=settings.STATIC_URL,
        index=read_static_index(site_packages),
    )
