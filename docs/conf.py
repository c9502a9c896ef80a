"""Sphinx configuration for the django-zipapp documentation."""

from __future__ import annotations

import re
from pathlib import Path

from sphinx.application import Sphinx

ROOT = Path(__file__).resolve().parent.parent


def read_version() -> str:
    # Parsed rather than imported: importing django_zipapp needs Django, and the docs
    # build without it.
    text = (ROOT / "django_zipapp" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__ = ["\']([^"\']+)["\']', text, re.MULTILINE)
    if match is None:
        raise RuntimeError("django_zipapp/__init__.py has no __version__")
    return match.group(1)


project = "django-zipapp"
author = "the django-zipapp authors"
copyright = f"2026, {author}"  # noqa: A001
release = read_version()
version = ".".join(release.split(".")[:2])

# No intersphinx: the docs must build without network access. External pages are
# plain links.
extensions: list[str] = []

exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "requirements.txt"]
default_role = "literal"
highlight_language = "none"

html_theme = "furo"
html_title = f"django-zipapp {release}"
html_static_path: list[str] = []


def setup(app: Sphinx) -> None:
    # Django's own docs mark settings this way: ``.. setting:: NAME`` and :setting:`NAME`.
    app.add_object_type(
        "setting",
        "setting",
        indextemplate="pair: %s; setting",
    )
    app.add_object_type(
        "check",
        "check",
        indextemplate="pair: %s; system check",
    )
