"""Files the build writes under a partial name beside their own, then renames into place."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import BuildError


@contextmanager
def replacing(path: Path, what: str) -> Iterator[Path]:
    """A partial file to write beside path, renamed over path when the block succeeds.

    ``what`` names the file in the error an OSError of the block becomes.
    """
    # A rename replaces the old file in one step: a server still reading the old file
    # keeps its inode, and a failed build leaves the old file untouched.
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        yield partial
        os.replace(partial, path)
    except OSError as exc:
        raise BuildError(f"{what} could not be written to {str(path)!r}: {exc}") from None
    finally:
        partial.unlink(missing_ok=True)
