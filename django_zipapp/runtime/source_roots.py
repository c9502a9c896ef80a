"""The project's folders on sys.path, such as src/ in a src layout, as in development."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any


def put_source_roots_on_path(build: dict[str, Any], site_packages: Path) -> None:
    # manage.py put them first on sys.path; the project's packages win there as here.
    for folder in reversed(build.get("python_path", [])):
        entry = str(site_packages / folder)
        if entry not in sys.path:
            sys.path.insert(0, entry)
