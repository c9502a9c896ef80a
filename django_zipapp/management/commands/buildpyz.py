from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

from django.core import checks
from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_zipapp.conf import DEFAULT_OUTPUT, conf, default_shebang


class Command(BaseCommand):
    help = "Build the project into one executable archive (a shiv zipapp)."
    # buildpyz runs the system checks itself, with its own failure message.
    requires_system_checks: list[str] = []
    verbosity = 1

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "-o",
            "--output",
            metavar="PATH",
            help=f"where to write the archive (ZIPAPP_OUTPUT; default {DEFAULT_OUTPUT!r})",
        )
        parser.add_argument(
            "--requirements",
            metavar="FILE",
            help="a requirements file or pyproject.toml (ZIPAPP_REQUIREMENTS; default: "
            "requirements.txt, else pyproject.toml, in the project directory)",
        )
        parser.add_argument(
            "--python",
            metavar="SHEBANG",
            help="the interpreter the archive starts with (ZIPAPP_PYTHON; default "
            f"{default_shebang()!r}, the Python running this build)",
        )
        parser.add_argument(
            "--config-object",
            metavar="MODULE:ATTRIBUTE",
            help="the goodconf instance the archive loads (ZIPAPP_CONFIG_OBJECT; default: "
            "the one the settings module imports)",
        )
        compression = parser.add_mutually_exclusive_group()
        compression.add_argument(
            "--compress",
            dest="compress",
            action="store_true",
            default=None,
            help="deflate the archive's entries (ZIPAPP_COMPRESS; the default)",
        )
        compression.add_argument(
            "--no-compress",
            dest="compress",
            action="store_false",
            help="store entries uncompressed: a larger file, a faster first start",
        )
        self._add_target_arguments(parser)

    def _add_target_arguments(self, parser: CommandParser) -> None:
        # Targets, exclusions, the dependency cache and --list.
        parser.add_argument(
            "--platform",
            dest="platforms",
            action="append",
            metavar="TAG",
            help="build for this wheel platform tag, such as manylinux2014_aarch64, with "
            "binary wheels only; repeat for several (ZIPAPP_PLATFORMS; default: this machine)",
        )
        parser.add_argument(
            "--python-version",
            metavar="X.Y",
            help="build for this CPython version, with binary wheels only "
            "(ZIPAPP_PYTHON_VERSION; default: the Python running this build)",
        )
        parser.add_argument(
            "--exclude",
            action="append",
            metavar="PATTERN",
            help="leave out project files matching this pattern, besides those of "
            "ZIPAPP_EXCLUDE; repeat for several",
        )
        parser.add_argument(
            "--cache-dir",
            metavar="DIR",
            help="where installed dependencies are kept for later builds (ZIPAPP_CACHE_DIR; "
            "default $XDG_CACHE_HOME/django-zipapp-build, else ~/.cache/django-zipapp-build)",
        )
        parser.add_argument(
            "--no-cache",
            action="store_true",
            help="install the dependencies afresh and keep nothing for later builds",
        )
        parser.add_argument(
            "--list",
            "--dry-run",
            dest="list",
            action="store_true",
            help="show what would go into the archive and why anything is left out; build nothing",
        )

    def _target_options(self, options: dict[str, Any]) -> dict[str, Any]:
        cache_dir = options["cache_dir"] or conf.CACHE_DIR
        return {
            "platforms": options["platforms"] or conf.PLATFORMS,
            "python_version": options["python_version"] or conf.PYTHON_VERSION,
            "exclude": [*conf.EXCLUDE, *(options["exclude"] or [])],
            "cache_dir": None if cache_dir is None else Path(cache_dir),
            "use_cache": not options["no_cache"],
        }

    def handle(self, *args: Any, **options: Any) -> None:
        self.verbosity = options["verbosity"]
        builder = _import_builder()
        self._run_checks()
        compress = options["compress"]
        if options["list"]:
            self._list(builder, options)
            return
        try:
            result = builder.build_pyz(
                output=Path(options["output"] or conf.OUTPUT),
                requirements=options["requirements"] or conf.REQUIREMENTS,
                shebang=options["python"] or conf.PYTHON,
                compressed=conf.COMPRESS if compress is None else compress,
                config_object=options["config_object"] or conf.CONFIG_OBJECT,
                report=self._step,
                pip_echo=self.stdout.write if options["verbosity"] >= 2 else None,
                **self._target_options(options),
            )
        except builder.BuildError as exc:
            raise CommandError(str(exc)) from None
        size = f"{result.size / 1_000_000:.1f} MB"
        self.stdout.write(
            self.style.SUCCESS(f"Built {result.path} ({size}, sha256 {result.sha256})")
        )

    def _list(self, builder: ModuleType, options: dict[str, Any]) -> None:
        target = self._target_options(options)
        try:
            builder.list_build(
                output=Path(options["output"] or conf.OUTPUT),
                write=self.stdout.write,
                requirements=options["requirements"] or conf.REQUIREMENTS,
                config_object=options["config_object"] or conf.CONFIG_OBJECT,
                platforms=target["platforms"],
                python_version=target["python_version"],
                exclude=target["exclude"],
            )
        except builder.BuildError as exc:
            raise CommandError(str(exc)) from None

    def _step(self, message: str) -> None:
        if self.verbosity >= 1:
            self.stdout.write(f"- {message}")

    def _run_checks(self) -> None:
        messages = [
            message
            for message in checks.run_checks(include_deployment_checks=False)
            if message.level >= checks.WARNING and not message.is_silenced()
        ]
        for message in messages:
            if not message.is_serious():
                self.stderr.write(f"Warning: {_describe(message)}")
        errors = [message for message in messages if message.is_serious()]
        if errors:
            listing = " ".join(_describe(message) for message in errors)
            raise CommandError(
                f"The system checks found {len(errors)} error(s), so no archive was built. "
                f"{listing}"
            )


def _describe(message: checks.CheckMessage) -> str:
    hint = f" {message.hint}" if message.hint else ""
    return f"{message.id}: {message.msg}{hint}"


def _import_builder() -> ModuleType:
    # Imported here, not at the top: a running archive lists this command too, and carries
    # neither shiv nor pip.
    try:
        from django_zipapp import builder
    except ModuleNotFoundError as exc:
        raise CommandError(
            f"buildpyz cannot run here: {exc.name!r} is not installed. Build archives from "
            "the project's source tree with `python manage.py buildpyz`, in an environment "
            "where django-zipapp is installed with its dependencies; a running archive "
            "carries neither shiv nor pip."
        ) from None
    return builder
