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

    def handle(self, *args: Any, **options: Any) -> None:
        self.verbosity = options["verbosity"]
        builder = _import_builder()
        self._run_checks()
        compress = options["compress"]
        try:
            result = builder.build_pyz(
                output=Path(options["output"] or conf.OUTPUT),
                requirements=options["requirements"] or conf.REQUIREMENTS,
                shebang=options["python"] or conf.PYTHON,
                compressed=conf.COMPRESS if compress is None else compress,
                config_object=options["config_object"] or conf.CONFIG_OBJECT,
                report=self._step,
                pip_echo=self.stdout.write if options["verbosity"] >= 2 else None,
            )
        except builder.BuildError as exc:
            raise CommandError(str(exc)) from None
        size = f"{result.size / 1_000_000:.1f} MB"
        self.stdout.write(
            self.style.SUCCESS(f"Built {result.path} ({size}, sha256 {result.sha256})")
        )

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
