"""Run ``manage.py buildpyz`` again under the settings the archive runs with.

``buildpyz --settings-module`` (or ZIPAPP_SETTINGS_MODULE) starts the build again in a
new interpreter through this module: Django's settings cannot change once loaded. When
those settings stop at import for want of a variable the build machine does not set, as
production settings do (django-environ's ``env("DJANGO_SECRET_KEY")``), Django itself
would end in a traceback before the command runs; this says it in one paragraph.
"""

from __future__ import annotations

import os
import re
import runpy
import sys
import traceback
from pathlib import Path

# Django's Settings.__init__, which imports the settings module.
SETTINGS_IMPORT = ("django/conf/__init__.py", "__init__")
# The variable a failure names, as settings_failure words it.
VARIABLE = re.compile(r"environment variable '?([A-Za-z_]\w*)|Set the ([A-Za-z_]\w*) environment")


def main(program: str, arguments: list[str]) -> None:
    try:
        _run(program, arguments)
    except Exception as exc:
        said = _not_loaded(exc, program)
        if said is None:
            raise
        sys.stderr.write(f"CommandError: {said}\n")
        sys.exit(1)


def _run(program: str, arguments: list[str]) -> None:
    if _django_main(program):
        sys.argv = ["django", *arguments]
        runpy.run_module("django", run_name="__main__", alter_sys=True)
        return
    # As `python manage.py` has it: the script's folder first on sys.path.
    sys.path[0] = str(Path(program).resolve().parent)
    sys.argv = [program, *arguments]
    runpy.run_path(program, run_name="__main__")


def _not_loaded(exc: Exception, program: str) -> str | None:
    """The paragraph for exc when it stopped the settings' import over the configuration."""
    if not _while_importing_settings(exc):
        return None
    from django_zipapp.runtime.settings_errors import settings_failure

    module = os.environ.get("DJANGO_SETTINGS_MODULE", "")
    root = Path.cwd() if _django_main(program) else Path(program).resolve().parent
    said = settings_failure(exc, module, root, [])
    if said is None:
        return None
    found = VARIABLE.search(said)
    example = f" (`{found[1] or found[2]}=build python manage.py buildpyz`)" if found else ""
    return (
        f"The settings module {module!r} could not be loaded: {said}. buildpyz imports "
        "the settings the archive runs with on the build machine: set each variable they "
        f"require there, with any value that lets them load{example}. None of these "
        "values is packed, and the verification does not see them: give it what a server "
        "has with --verify-env."
    )


def _django_main(program: str) -> bool:
    # `python -m django`: argv[0] is django's __main__.py, which must run as a module
    # (run as a file, the django/ folder would shadow the standard library).
    return program.endswith("__main__.py")


def _while_importing_settings(exc: BaseException) -> bool:
    frames = traceback.extract_tb(exc.__traceback__)
    return any(
        frame.filename.endswith(SETTINGS_IMPORT[0]) and frame.name == SETTINGS_IMPORT[1]
        for frame in frames
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
