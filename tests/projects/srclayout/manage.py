#!/usr/bin/env python
import os
import sys
from pathlib import Path

if __name__ == "__main__":
    # A src layout: the project's packages live in src/, which manage.py puts on sys.path.
    sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "srcsite.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
