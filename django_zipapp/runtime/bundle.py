"""What an archive with its own interpreter records about it, read back at run time.

The record is a comment line of the file's sh launcher (see builder/bundle.py): the
archive inside, and its build record, are those of the plain archive.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..booted import boot

__all__ = [
    "HEADER_TAG",
    "INTERPRETER_SUFFIX",
    "OUTER_LIBRARY_PATH",
    "bundled_interpreter",
    "describe_interpreter",
    "outer_environment",
]

HEADER_TAG = "# django-zipapp-interpreter"
INTERPRETER_SUFFIX = boot.INTERPRETER_SUFFIX
# What LD_LIBRARY_PATH was before the launcher pointed it at the bundled interpreter's
# libraries (see boot.names.OUTER_PREFIX; the archive's start puts it back in os.environ).
OUTER_LIBRARY_PATH = f"{boot.OUTER_PREFIX}LD_LIBRARY_PATH"


def outer_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a program the archive starts: as the archive was started."""
    environment = dict(os.environ if environ is None else environ)
    boot.restore_outer_environment(environment)
    return environment


def bundled_interpreter(path: Path) -> dict[str, Any] | None:
    """The bundled interpreter's record, or None for a plain archive."""
    try:
        with path.open("rb") as file:
            head = file.read(4096)
    except OSError:
        return None
    if not head.startswith(b"#!/bin/sh\n"):
        return None
    for line in head.split(b"\n")[:8]:
        if line.startswith(HEADER_TAG.encode() + b" "):
            try:
                record = json.loads(line[len(HEADER_TAG) + 1 :])
            except ValueError:
                return None
            return record if isinstance(record, dict) else None
    return None


def describe_interpreter(record: dict[str, Any] | None) -> str:
    if record is None:
        return "none: started by the host's python (plain archive)"
    needs = record.get("needs", {})
    return (
        f"CPython {record.get('python')} bundled, from {record.get('source')}; needs Linux "
        f"{needs.get('machine')} with glibc {needs.get('glibc')} or newer"
    )
