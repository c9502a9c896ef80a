"""The caller's environment, put back where a bundled archive's launcher changed it.

The launcher of a bundled archive (builder/bundle.py) changes a few variables to start
its interpreter (LD_LIBRARY_PATH to the bundled libraries, PYTHONHOME unset) and keeps
what each was in OUTER_PREFIX + NAME. This module touches os.environ only, or the
mapping it is given.
"""

from __future__ import annotations

from collections.abc import MutableMapping

from .names import OUTER_PREFIX


def restore_outer_environment(environ: MutableMapping[str, str]) -> None:
    """Put back in environ what the caller of the archive had, before any launcher."""
    for private in [name for name in environ if name.startswith(OUTER_PREFIX)]:
        name, before = private.removeprefix(OUTER_PREFIX), environ.pop(private)
        if before.startswith("="):
            environ[name] = before[1:]
        else:
            environ.pop(name, None)
