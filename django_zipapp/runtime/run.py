"""``./site.pyz run NAME ARGS...``: a console script or module the archive carries.

It runs in this very process, as its own console script would outside the archive: the
signals the process gets (SIGTERM from systemd, Ctrl-C) reach the script's own handlers,
its exit status is the process's, and it sees the site's configuration loaded exactly
as a management command does.
"""

from __future__ import annotations

import sys
import textwrap
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .archive import Archive

# argparse's status for a command line it cannot use.
EXIT_USAGE = 2

USAGE = """\
usage: {prog} [-C FILE] run NAME [ARGS...]
       {prog} [-C FILE] run -m MODULE [ARGS...]

Run a console script (or, with -m, a module, as 'python -m' would) from this archive,
with the site's configuration loaded as for a management command: -C FILE, the
environment, systemd credentials and the settings module {settings!r}. Everything
after NAME goes to the script: '{prog} run celery -A proj worker'.

console scripts in this archive:
{scripts}
"""


def run(archive: Archive, argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        stream = sys.stdout if argv else sys.stderr
        print(usage(archive), end="", file=stream)
        return 0 if argv else EXIT_USAGE
    if argv[0] == "-m":
        return _run_module(archive, argv[1:])
    scripts = console_scripts()
    if argv[0] not in scripts:
        print(
            f"error: this archive has no console script {argv[0]!r}; it has "
            f"{', '.join(sorted(scripts)) or 'none'} (or give a module: run -m MODULE).",
            file=sys.stderr,
        )
        return EXIT_USAGE
    entry = scripts[argv[0]]
    _load_site(archive)
    sys.argv = [argv[0], *argv[1:]]
    return _exit_status(entry.load()())


def console_scripts() -> dict[str, EntryPoint]:
    """The console scripts of the distributions in the archive, first on sys.path first."""
    found: dict[str, EntryPoint] = {}
    for entry in entry_points(group="console_scripts"):
        found.setdefault(entry.name, entry)
    return found


def usage(archive: Archive) -> str:
    names = ", ".join(sorted(console_scripts())) or "(none)"
    scripts = textwrap.fill(names, width=88, initial_indent="  ", subsequent_indent="  ")
    settings = archive.build.get("settings_module", "")
    return USAGE.format(prog=archive.prog, settings=settings, scripts=scripts)


def _run_module(archive: Archive, argv: list[str]) -> int:
    import runpy

    if not argv or argv[0].startswith("-"):
        print(f"error: give a module: {archive.prog} run -m MODULE [ARGS...]", file=sys.stderr)
        return EXIT_USAGE
    if not _importable(argv[0]):
        print(f"error: this archive has no module {argv[0]!r} to run.", file=sys.stderr)
        return EXIT_USAGE
    _load_site(archive)
    sys.argv = [argv[0], *argv[1:]]  # runpy puts the module's file first, as python -m does
    try:
        runpy.run_module(argv[0], run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        return _exit_status(exc.code)
    return 0


def _importable(module: str) -> bool:
    from importlib.util import find_spec

    try:
        return find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package that does not exist
        return False


def _load_site(archive: Archive) -> None:
    # What a management command gets before Django parses its arguments: the goodconf
    # configuration loaded, the settings pointed at the archive's static files.
    archive.load_config()
    archive.point_settings_at_archive()


def _exit_status(result: object) -> int:
    # What the wrapper pip writes for a console script does: sys.exit(main()).
    if result is None or isinstance(result, bool | int):
        return int(result or 0)
    print(result, file=sys.stderr)
    return 1
