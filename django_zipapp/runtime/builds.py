"""Old builds' extractions: how many to keep, and pruning them once per start."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ..booted import boot
from .config import ConfigError

DEFAULT_KEEP_BUILDS = 3


def keep_builds(config: object | None) -> int:
    """KEEP_BUILDS from the site's configuration when it has one, else the environment."""
    configured = getattr(config, "KEEP_BUILDS", None)
    if configured is not None:
        return int(configured)
    text = os.environ.get("KEEP_BUILDS", "").strip()
    if not text:
        return DEFAULT_KEEP_BUILDS
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(
            f"KEEP_BUILDS must be a whole number of 1 or more (the running build counts), "
            f"but it is {text!r}."
        )
    return value


def prune_old_builds(extraction: Path, config: object | None) -> None:
    """Remove the other builds' extractions beside this build's, beyond KEEP_BUILDS."""
    # Every start looks (one directory listing): a lowered KEEP_BUILDS applies at once,
    # and a start killed before it pruned is made up for by the next one.
    keep = keep_builds(config)
    try:
        boot.prune_builds(extraction, keep)
    except OSError as exc:  # the site can still start; the operator should know
        print(
            f"warning: old extractions in {str(extraction.parent)!r} could not be removed: "
            f"{exc.strerror or exc}.",
            file=sys.stderr,
        )
