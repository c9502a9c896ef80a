#!/usr/bin/env python
"""Django's command-line utility for the example site, in development."""

import os
import sys
from pathlib import Path


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example.settings")
    # Development defaults, so that manage.py (runserver, makemigrations, buildpyz) works
    # in a fresh checkout. The archive never runs this file: it demands a real SECRET_KEY
    # and keeps its data in the service's state directory.
    os.environ.setdefault("SECRET_KEY", "development-only-secret-key-never-used-by-the-archive")
    if sys.argv[1:2] != ["buildpyz"]:
        # buildpyz checks the settings as the archive runs them: DEBUG off, the data
        # outside the project.
        os.environ.setdefault("DEBUG", "true")
        os.environ.setdefault("STATE_DIR", str(Path(__file__).resolve().parent / "var"))
    from example.conf import config

    config.django_manage(sys.argv)


if __name__ == "__main__":
    main()
