"""The boot package that started this process, for the code that runs after it.

An archive runs its boot package first, as a top-level package of its own
(``_django_zipapp_boot``, see builder/shiv.py). Importing ``django_zipapp.boot`` after
it would load the same modules a second time, from site-packages, as other module
objects with their own state (the index of the archive that entry.py forgets, say).
The runtime and the checks reach the boot package through here: the one that started
the archive, or ``django_zipapp.boot`` where no archive did (a checkout, the tests, the
builder). This module reads sys.modules and imports nothing of the project at its own
import unless no archive started the process.
"""

from __future__ import annotations

import sys
from importlib import import_module
from typing import TYPE_CHECKING

# boot.names.BOOT_MODULE: importing that module from here would load the boot package
# a second time (tests/test_layering.py holds the two equal).
ARCHIVE_PACKAGE = "_django_zipapp_boot"

if TYPE_CHECKING:
    from django_zipapp import boot
else:
    boot = sys.modules.get(ARCHIVE_PACKAGE) or import_module("django_zipapp.boot")

__all__ = ["ARCHIVE_PACKAGE", "boot", "in_archive"]


def in_archive() -> bool:
    """Whether an archive's boot package started this process."""
    return ARCHIVE_PACKAGE in sys.modules
