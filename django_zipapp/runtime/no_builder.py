"""The builder does not run inside an archive: what says so, instead of an ImportError.

An archive carries what the site needs at run time; shiv, pip, cyclonedx-python-lib and
what only they need stay on the build machine (builder/build_only.py). The runtime marks
the process as an archive's before it runs a command, and django_zipapp.builder refuses to
be imported in such a process with this message, which the runtime prints as it is.
"""

from __future__ import annotations

MESSAGE = (
    "{what} builds archives from a project's source; it does not run inside an archive, "
    "which carries what the site needs at run time and none of the builder's tools (shiv, "
    "pip, cyclonedx-python-lib). Build from the project's source tree with `python manage.py "
    "buildpyz`, in an environment where django-zipapp is installed with its dependencies."
)
_inside = False


class BuilderNotInArchive(ImportError):
    """django_zipapp.builder imported inside an archive."""


def mark_inside_archive() -> None:
    global _inside
    _inside = True


def refuse_inside_archive(what: str) -> None:
    if _inside:
        raise BuilderNotInArchive(MESSAGE.format(what=what))
