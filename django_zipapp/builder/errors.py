from __future__ import annotations


class BuildError(Exception):
    """The archive cannot be built; the message says why and what to do."""
