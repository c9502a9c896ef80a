"""Project files a failed verification opened, that the archive does not have.

A site that reads a file through ``BASE_DIR`` which no rule packs (a front-end build's
``manifest.json`` in a git-ignored ``STATICFILES_DIRS`` folder, read by django-vite or
django-webpack-loader) works in development and fails in the archive. The failure names
the path inside the extraction; when the project has that file and the archive does not,
the build says which ``--include`` ships it.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
import zipfile
from pathlib import Path

# A path inside the extraction, as a traceback or an error message shows it.
EXTRACTED = re.compile(r"/site-packages/((?:[\w.@+-]+/)*[\w.@+-]+)")
MOST = 3
# Python's last line when an import fails in the archive.
NO_MODULE = re.compile(r"^ModuleNotFoundError: No module named '([\w.]+)'$", re.MULTILINE)


def left_out_hint(output: str, archive: Path, root: Path) -> str:
    """A sentence naming the project files output mentions that the archive lacks."""
    mentioned = dict.fromkeys(found[1].rstrip(".") for found in EXTRACTED.finditer(output))
    try:
        with zipfile.ZipFile(archive) as packed:
            names = set(packed.namelist())
    except (OSError, zipfile.BadZipFile):
        return ""
    missing = [
        path
        for path in mentioned
        if f"site-packages/{path}" not in names and (root / path).is_file()
    ][:MOST]
    if not missing:
        return ""
    shown = ", ".join(repr(path) for path in missing)
    options = " ".join(f"--include {path}" for path in missing)
    return (
        f"The site opened {shown}, which the project has but the archive does not (no "
        f"rule packs it, or git ignores it): ship it with `{options}` (or ZIPAPP_INCLUDE), "
        "or have the site read it where the archive has it (a file collected from "
        "STATICFILES_DIRS is under STATIC_ROOT). "
    )


def missing_module_hint(output: str) -> str:
    """A sentence naming the distribution of a module the archive could not import, when
    the build's own environment has it: installed by hand, not in the requirements."""
    found = NO_MODULE.findall(output)
    if not found:
        return ""
    module = found[-1]
    top = module.partition(".")[0]
    try:
        here = importlib.util.find_spec(top) is not None
    except (ImportError, ValueError):
        here = False
    if not here:
        return ""
    distributions = importlib.metadata.packages_distributions().get(top, [])
    if not distributions:
        return ""  # one of the project's own modules: no requirement ships it
    named = " or ".join(repr(name) for name in sorted(set(distributions)))
    return (
        f"The archive has no module {module!r}, which the build's environment has (from "
        f"{named}): add it to the requirements the build installs, and build again. "
    )
