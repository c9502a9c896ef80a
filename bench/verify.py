"""The verification step's cost for bench/run.py: a rebuild with it (the default) and without.

Standard library only, like run.py. Both rebuilds use the warm dependency cache, one
right after the other in each round, so the ratio is the step's share of a rebuild.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

NO_VERIFY = "--no-verify"
WITH = "rebuild/verified"
WITHOUT = "rebuild/no-verify"


def measure(build: Callable[[str, list[str]], float], index: int) -> dict[str, float]:
    """Seconds of a verified rebuild and of one with --no-verify."""
    return {
        WITH: build(f"rebuild {index}, verified", []),
        WITHOUT: build(f"rebuild {index}, {NO_VERIFY}", [NO_VERIFY]),
    }


def rows(got: dict[str, list[float]], row: Callable[..., Any]) -> list[Any]:
    """The table's row; row is run.py's Row, passed in: run.py runs as a script."""
    if not got.get(WITH):
        return []
    return [
        row(
            "rebuild with the verification step (s)",
            got[WITH],
            got.get(WITHOUT),
            f"the same rebuild with {NO_VERIFY}",
            paired=True,
        )
    ]
