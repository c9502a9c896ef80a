from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
import time
import traceback
from contextlib import suppress
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

from django.conf import settings
from django.core import checks
from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper
from django.test.utils import override_settings

from django_zipapp.checks import ARCHIVE_TAG, settings_module
from django_zipapp.conf import DEFAULT_OUTPUT, conf, default_shebang
from django_zipapp.runtime.no_builder import BuilderNotInArchive

# The lines of pip's that say what it is doing, shown at the default verbosity.
PIP_PROGRESS = (
    "Collecting ",
    "Downloading ",
    "Building wheel",
    "Installing collected",
    "Successfully installed",
)
# Lines that say what a step did, once it is done, rather than which step starts.
RESULTS = (
    "Note:",
    "Configuration:",
    "Collected ",
    "Copied ",
    "Scanned ",
    "Using the installed",
    "Build commands wrote",
    "Verified ",
    "SBOM:",
    "Wrote the SBOM",
    "Signed:",
)
# Set for the build run again under another settings module: it must not loop.
REBUILT_UNDER = "DJANGO_ZIPAPP_BUILD_SETTINGS"
# NAME=VALUE pairs for the verification (or a JSON object), as CI gives them.
VERIFY_ENV_VARIABLE = "ZIPAPP_VERIFY_ENV"
VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# The Took block's first row: from the start of `manage.py buildpyz` (Python, Django's
# setup, which imports every app) or of the call, to the builder's first step.
BEFORE_THE_STEPS = "Starting Django, system checks, reading the project"


class Command(BaseCommand):
    help = "Build the project into one executable archive (a shiv zipapp)."
    # buildpyz runs the system checks itself, with its own failure message.
    requires_system_checks: list[str] = []
    verbosity = 1
    _started: list[tuple[str, float]]

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
        parser.add_argument(
            "--bundle-python",
            nargs="?",
            const="",
            metavar="TARBALL",
            help="carry a CPython interpreter in the file, so that the host needs no Python: "
            "a python-build-standalone install_only tarball, or without TARBALL the Python "
            "running this build (ZIPAPP_BUNDLE_PYTHON; default: a plain archive)",
        )
        self._add_layout_arguments(parser)
        self._add_target_arguments(parser)
        self._add_trust_arguments(parser)

    def _add_trust_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--sbom",
            metavar="FILE",
            help="also write the archive's CycloneDX SBOM (JSON) to FILE; every archive "
            "carries it, and `./site.pyz info --sbom` prints it",
        )
        parser.add_argument(
            "--sign",
            metavar="SECRET_KEY_FILE",
            help="sign the archive with this minisign secret key, writing ARCHIVE.minisig "
            "(ZIPAPP_SIGN_PASSWORD, else a prompt, gives its password; needs the 'sign' extra)",
        )

    def _add_layout_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--settings-module",
            metavar="MODULE",
            help="the settings module the archive runs with, and the build runs under "
            "(ZIPAPP_SETTINGS_MODULE; default: the one this command runs with)",
        )
        parser.add_argument(
            "--include",
            action="append",
            metavar="PATH",
            help="a file or folder of the project to pack as well, relative to BASE_DIR; "
            "repeatable (ZIPAPP_INCLUDE)",
        )
        parser.add_argument(
            "--build-command",
            action="append",
            metavar="COMMAND",
            help="a management command to run during the build, its static output packed in, "
            "e.g. 'compress'; repeatable (ZIPAPP_BUILD_COMMANDS)",
        )

    def run_from_argv(self, argv: list[str]) -> None:
        self._argv = argv  # to run the build again under another settings module
        self._began = _process_start()
        super().run_from_argv(argv)

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
            "--check-reproducible",
            action="store_true",
            help="build twice, in two separate copies of the project, and name each entry "
            "of the archives that differs, with its likely cause; write no archive",
        )
        parser.add_argument(
            "--no-verify",
            action="store_true",
            help="do not start the new archive to check it before writing it "
            "(ZIPAPP_VERIFY = False); by default it runs check --deploy, migrate and serve, "
            "and requests ZIPAPP_VERIFY_URLS",
        )
        parser.add_argument(
            "--verify-env",
            action="append",
            metavar="NAME=VALUE",
            help="an environment variable for the verification, as the server sets it (a "
            "DEBUG the settings turn on by default, a required value, a DATABASE_URL on a "
            "server); repeatable. Over the environment variable ZIPAPP_VERIFY_ENV "
            "(NAME=VALUE pairs) and the setting ZIPAPP_VERIFY_ENV",
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
        # `buildpyz | head` must not stop the build halfway, with a traceback.
        self.stdout = _ReaderMayLeave(self.stdout)
        # The system checks can take a while on a large site: they count too.
        self._started = [(BEFORE_THE_STEPS, getattr(self, "_began", time.monotonic()))]
        builder = _import_builder()
        target = options["settings_module"] or conf.SETTINGS_MODULE
        if target and target != settings_module():
            return self._build_under(target)
        # The build commands of the command line count for the checks (E012) too.
        with override_settings(ZIPAPP_BUILD_COMMANDS=self._build_commands(options)):
            self._run_checks(builder)
        self._check_process_commands()
        compress = options["compress"]
        if options["list"]:
            self._list(builder, options)
            return
        if options["check_reproducible"]:
            self._check_reproducible(builder, options["requirements"] or conf.REQUIREMENTS)
            return
        try:
            sign_with = self._signing_key(options["sign"])
            result = builder.build_pyz(
                output=Path(options["output"] or conf.OUTPUT),
                requirements=options["requirements"] or conf.REQUIREMENTS,
                shebang=options["python"] or conf.PYTHON,
                compressed=conf.COMPRESS if compress is None else compress,
                config_object=options["config_object"] or conf.CONFIG_OBJECT,
                report=self._step,
                pip_echo=self._pip_line if options["verbosity"] >= 1 else None,
                includes=options["include"] or conf.INCLUDE,
                build_commands=self._build_commands(options),
                workers=conf.WORKERS,
                jobs=conf.JOBS,
                asgi=conf.ASGI,
                bundle_python=conf.BUNDLE_PYTHON
                if options["bundle_python"] is None
                else options["bundle_python"],
                verify=conf.VERIFY and not options["no_verify"],
                verify_urls=conf.VERIFY_URLS,
                verify_env=_verify_env(options["verify_env"] or []),
                sbom_file=None if options["sbom"] is None else Path(options["sbom"]),
                sign_with=sign_with,
                **self._target_options(options),
            )
        except builder.BuildError as exc:
            raise CommandError(str(exc)) from None
        self._durations()
        size = f"{result.size / 1_000_000:.1f} MB"
        self.stdout.write(
            self.style.SUCCESS(f"Built {result.path} ({size}, sha256 {result.sha256})")
        )

    def _signing_key(self, path: str | None) -> Any:
        if path is None:
            return None
        from django_zipapp.builder.signing import load_signing_key

        return load_signing_key(Path(path), prompt=True)

    def _build_commands(self, options: dict[str, Any]) -> list[str | list[str]]:
        return options["build_command"] or conf.BUILD_COMMANDS

    def _build_under(self, target: str) -> None:
        """Build again in a new process under the production settings.

        Django's settings cannot be swapped once loaded, and the build must see the
        settings the archive runs with: its static storage, INSTALLED_APPS, checks.
        """
        argv = getattr(self, "_argv", None)
        if argv is None or os.environ.get(REBUILT_UNDER) == target:
            raise CommandError(
                f"buildpyz builds under the settings the archive runs with, {target!r}, but "
                f"runs under {settings_module()!r}. Run it as `python manage.py "
                f"buildpyz --settings {target}`."
            )
        if not _importable(target):
            raise CommandError(
                f"The settings module {target!r} (--settings-module or "
                "ZIPAPP_SETTINGS_MODULE) cannot be found. Give the dotted path of the "
                "settings module the archive runs with, such as 'mysite.settings.production'."
            )
        self._step(f"Building under the settings module {target!r}")
        environment = {**os.environ, "DJANGO_SETTINGS_MODULE": target, REBUILT_UNDER: target}
        # Through under_settings: a variable those settings require, missing on the build
        # machine, is said in one paragraph instead of Django's traceback.
        runner = ["-m", "django_zipapp.management.under_settings"]
        command = [sys.executable, *runner, argv[0], *argv[1:], "--settings", target]
        self.stdout.flush()  # this process's lines first, then the build's
        status = subprocess.run(command, env=environment, check=False).returncode
        if status:
            sys.exit(status)  # the build under target has said what failed

    def _check_reproducible(self, builder: ModuleType, requirements: str | None) -> None:
        argv = getattr(self, "_argv", None)
        if argv is None or not argv[0].endswith("manage.py"):
            raise CommandError("Run --check-reproducible as `python manage.py buildpyz`.")
        self._step("Building twice, in two copies of the project")
        try:
            differences = builder.check_reproducible(
                manage=Path(argv[0]),
                arguments=_build_arguments(argv[2:]),
                requirements=requirements,
            )
        except builder.BuildError as exc:
            raise CommandError(str(exc)) from None
        if differences:
            listing = "\n".join(f"  {line}" for line in differences)
            raise CommandError(
                f"Two builds of the same sources differ in {len(differences)} entries:\n{listing}"
            )
        self.stdout.write(self.style.SUCCESS("Two builds in separate copies are byte-identical."))

    def _list(self, builder: ModuleType, options: dict[str, Any]) -> None:
        target = self._target_options(options)
        try:
            builder.list_build(
                output=Path(options["output"] or conf.OUTPUT),
                write=self.stdout.write,
                requirements=options["requirements"] or conf.REQUIREMENTS,
                config_object=options["config_object"] or conf.CONFIG_OBJECT,
                includes=options["include"] or conf.INCLUDE,
                platforms=target["platforms"],
                python_version=target["python_version"],
                exclude=target["exclude"],
                asgi=conf.ASGI,
                cache_dir=(target["cache_dir"] or builder.default_cache_dir())
                if target["use_cache"]
                else None,
            )
        except builder.BuildError as exc:
            raise CommandError(str(exc)) from None

    def _step(self, message: str) -> None:
        if not message.startswith(RESULTS):
            self._started.append((message, time.monotonic()))
        if self.verbosity >= 1:
            self.stdout.write(f"- {message}")

    def _pip_line(self, line: str) -> None:
        # pip's own words, under the step that runs it; all of them from --verbosity 2.
        if self.verbosity >= 2 or line.startswith(PIP_PROGRESS):
            self.stdout.write(f"    {line}")

    def _durations(self) -> None:
        """Each step's time: from its start to the next one's, the last to the end."""
        if self.verbosity < 1 or not self._started:
            return
        ends = [at for _, at in self._started[1:]] + [time.monotonic()]
        total = ends[-1] - self._started[0][1]
        self.stdout.write(f"Took {total:.1f} s:")
        for (message, started), ended in zip(self._started, ends, strict=True):
            self.stdout.write(f"  {ended - started:6.1f} s  {message.split(' (')[0]}")

    def _check_process_commands(self) -> None:
        # Only with the project's settings loaded is it known which commands exist.
        from django.core.management import get_commands

        from django_zipapp.processes import DeclarationError, declared_processes, unknown_command
        from django_zipapp.runtime import ARCHIVE_COMMANDS

        try:
            declared = declared_processes(conf.WORKERS, conf.JOBS)
            unknown_command(declared, set(get_commands()) | set(ARCHIVE_COMMANDS))
        except DeclarationError as exc:
            raise CommandError(
                f"{exc} See the guide 'Background workers and scheduled jobs'."
            ) from None

    def _run_checks(self, builder: ModuleType) -> None:
        # No database: the build machine need not reach the site's, and Django 6.1 runs the
        # model checks against every database when none is named (a JSONField opens it).
        try:
            found = [
                *checks.run_checks(include_deployment_checks=False, databases=[]),
                *checks.run_checks(
                    tags=[ARCHIVE_TAG], include_deployment_checks=True, databases=[]
                ),
            ]
        except Exception as exc:  # the project's code, which the checks import
            raise CommandError(_raised_in_checks(exc)) from exc
        messages = [
            message
            for message in found
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
                f"{listing}{_under_development_settings(builder)}"
            )


def _under_development_settings(builder: ModuleType) -> str:
    """The build's note that manage.py's default settings are not wsgi.py's: errors found
    in development settings are often fixed by building with the production ones."""
    from django_zipapp.builder.project import project_root

    if getattr(settings, "BASE_DIR", None) is None and not settings.SETTINGS_MODULE:
        return ""  # settings configured in code (override_settings): no manage.py's default
    root = project_root(settings)
    notes = builder.settings_default_notes(root, settings_module())
    return "".join(f" {note}." for note in notes)


def _process_start() -> float:
    """When this process started, on time.monotonic()'s clock; now where unknown."""
    now = time.monotonic()
    try:
        # Linux: the start in clock ticks since boot, field 22 of /proc/self/stat.
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")
        running = time.clock_gettime(time.CLOCK_BOOTTIME) - started
    except (OSError, ValueError, IndexError, AttributeError):
        return now
    return now - max(running, 0.0)


def _verify_env(options: list[str]) -> dict[str, str]:
    """The setting, under the environment variable, under the options."""
    variable = os.environ.get(VERIFY_ENV_VARIABLE, "").strip()
    from_variable: dict[str, str] = {}
    if variable.startswith("{"):
        try:
            from_variable = {str(k): str(v) for k, v in json.loads(variable).items()}
        except (ValueError, AttributeError):
            raise CommandError(
                f"The environment variable {VERIFY_ENV_VARIABLE} is not a JSON object of "
                "names and values; give NAME=VALUE pairs separated by spaces, or a JSON object."
            ) from None
    elif variable:
        try:
            words = shlex.split(variable)
        except ValueError as exc:
            raise CommandError(f"The environment variable {VERIFY_ENV_VARIABLE}: {exc}.") from None
        from_variable = _pairs(words, f"the environment variable {VERIFY_ENV_VARIABLE}")
    return {**conf.VERIFY_ENV, **from_variable, **_pairs(options, "--verify-env")}


def _pairs(words: list[str], source: str) -> dict[str, str]:
    pairs = {}
    for word in words:
        name, equals, value = word.partition("=")
        if not equals or not VARIABLE_NAME.fullmatch(name):
            # Not quoted: a value given without its name may be a secret.
            raise CommandError(
                f"{source} takes NAME=VALUE pairs, such as DEBUG=False, and a value given "
                "there has no '=' after an environment variable's name."
            )
        pairs[name] = value
    return pairs


def _build_arguments(arguments: list[str]) -> list[str]:
    """The command line of a build for the comparison: without the output and this check."""
    kept: list[str] = []
    skip_next = False
    for word in arguments:
        if skip_next:
            skip_next = False
        elif word in ("-o", "--output", "--sbom", "--sign"):
            skip_next = True
        elif not word.startswith(("--output=", "--sbom=", "--sign=", "--check-reproducible")):
            kept.append(word)
    return kept


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package that is missing, or an empty name
        return False


class _ReaderMayLeave(OutputWrapper):
    """The command's output, which stops quietly when its reader goes away
    (`buildpyz | head -1`): the build goes on to write the archive, as without a pipe."""

    def __init__(self, wrapped: OutputWrapper) -> None:
        stream: TextIO = wrapped._out  # type: ignore[assignment]
        super().__init__(stream, wrapped.ending)
        self.style_func = wrapped.style_func
        self._stream = stream
        self._gone = False

    def write(  # type: ignore[override]  # OutputWrapper.write, as Django has it
        self, msg: str = "", style_func: Any = None, ending: str | None = None
    ) -> None:
        if self._gone:
            return
        try:
            super().write(msg, style_func, ending)
            self._stream.flush()
        except BrokenPipeError:
            self._gone = True
            # The interpreter's flush at exit must find nothing to complain about.
            with suppress(OSError, ValueError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), self._stream.fileno())


def _raised_in_checks(exc: Exception) -> str:
    """One paragraph for an error the project's code raised while the system checks
    imported it (the URLconf, a view, an admin module): the archive would fail the same."""
    return (
        "The system checks could not run, so no archive was built: importing the project's "
        f"code raised {type(exc).__name__}: {exc}{_project_line(exc)}. Fix it and build "
        "again (`python manage.py check` shows the whole traceback)."
    )


def _project_line(exc: BaseException) -> str:
    """ " (config/urls.py, line 3)": the project's last frame on the way, if any."""
    found = ""
    here = Path.cwd()
    for frame in traceback.extract_tb(exc.__traceback__):
        path = Path(frame.filename)
        if path.is_relative_to(here) and "site-packages" not in path.parts:
            found = f" ({path.relative_to(here).as_posix()}, line {frame.lineno})"
    return found


def _describe(message: checks.CheckMessage) -> str:
    hint = f" {message.hint}" if message.hint else ""
    return f"{message.id}: {message.msg}{hint}"


def _import_builder() -> ModuleType:
    # Imported here, not at the top: a running archive lists this command too, and carries
    # none of the builder's own tools.
    try:
        from django_zipapp import builder
    except BuilderNotInArchive as exc:
        raise CommandError(str(exc)) from None
    except ModuleNotFoundError as exc:
        raise CommandError(
            f"buildpyz cannot run here: {exc.name!r} is not installed. Build archives from "
            "the project's source tree with `python manage.py buildpyz`, in an environment "
            "where django-zipapp is installed with its dependencies; a running archive "
            "carries none of the builder's own tools (shiv, pip, cyclonedx-python-lib)."
        ) from None
    return builder
