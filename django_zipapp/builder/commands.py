"""Management commands run during the build (ZIPAPP_BUILD_COMMANDS), output packed in."""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from io import StringIO
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.test.utils import override_settings
from whitenoise.compress import Compressor

from django_zipapp.conf import project_setting

from .errors import BuildError
from .reproducible import normalize_written


def parse_command(command: str | Sequence[str]) -> list[str]:
    """'compress --force' or ["compress", "--force"]: the command's name, then its arguments."""
    words = shlex.split(command) if isinstance(command, str) else [str(w) for w in command]
    if not words:
        raise BuildError("ZIPAPP_BUILD_COMMANDS holds an empty command. Remove it.")
    return words


def run_build_commands(
    commands: Sequence[str | Sequence[str]], static_target: Path, *, cwd: Path
) -> int:
    """Run each command in this process, with STATIC_ROOT pointing into the archive.

    Commands that write static files (django-compressor's offline `compress`) then write
    them beside the collected ones; commands that write into the source tree
    (`compilemessages`) run in it, before it is copied.
    """
    before = _files(static_target)
    with _static_root_at(static_target), _as_in_production(), _working_directory(cwd):
        for command in commands:
            _run(parse_command(command))
    written = sorted(_files(static_target) - before)
    normalize_written(written)
    # gzip and brotli siblings, as for the collected files.
    compressor = Compressor(quiet=True)
    for path in written:
        if compressor.should_compress(path.name):
            list(compressor.compress(str(path)))  # a generator in whitenoise 6.6
    return len(written)


def _files(root: Path) -> set[Path]:
    return {path for path in root.rglob("*") if path.is_file()}


def _run(words: list[str]) -> None:
    name, *arguments = words
    output = StringIO()
    try:
        # Some commands (django-compressor's compress) print to sys.stdout directly.
        with redirect_stdout(output), redirect_stderr(output):
            call_command(name, *arguments, stdout=output, stderr=output)
    # A project's own command may fail any way it likes; each ends the build with one message.
    except (Exception, SystemExit) as exc:
        said = output.getvalue().strip()
        detail = f" It wrote:\n{said}" if said else ""
        raise BuildError(
            f"The build command {shlex.join(words)!r} failed ({type(exc).__name__}: {exc}). "
            f"Fix it or remove it from ZIPAPP_BUILD_COMMANDS / --build-command, and build "
            f"again.{detail}"
        ) from None


@contextmanager
def _working_directory(path: Path) -> Iterator[None]:
    # As `manage.py COMMAND` run in the project: compilemessages looks for locale/
    # folders under the working directory.
    previous = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


@contextmanager
def _as_in_production() -> Iterator[None]:
    # The archive never runs with DEBUG on (serve refuses it), so the commands that
    # generate its files must not either: django-compressor's `compress` refuses to run
    # with COMPRESS_ENABLED off, which follows DEBUG unless the project sets it.
    moved: dict[str, object] = {"DEBUG": False}
    if settings.DEBUG and getattr(settings, "COMPRESS_ENABLED", True) is False:
        moved["COMPRESS_ENABLED"] = True
    with override_settings(**moved):
        yield


@contextmanager
def _static_root_at(target: Path) -> Iterator[None]:
    # Every setting that defaults to STATIC_ROOT (django-compressor's COMPRESS_ROOT)
    # follows it into the archive's tree.
    original = getattr(settings, "STATIC_ROOT", None)
    moved = {"STATIC_ROOT": str(target)}
    if original:
        for name in filter(str.isupper, dir(settings)):
            if _same_path(_setting(name), original):
                moved[name] = str(target)
    with override_settings(**moved):
        yield


def _setting(name: str) -> object:
    try:
        return project_setting(name)
    except ImproperlyConfigured:  # an empty SECRET_KEY, which the host provides at run time
        return None


def _same_path(value: object, path: object) -> bool:
    if not isinstance(value, (str, Path)) or not isinstance(path, (str, Path)) or not value:
        return False
    return Path(value).resolve() == Path(path).resolve()
