"""The archive with its own interpreter (buildpyz --bundle-python), for bench/run.py.

Standard library only, like run.py, which hands in its own helpers (running a step,
timing a start to the first 200) so that the figures are taken the same way as the
plain archive's, in the same run: its size, its first start into an empty cache (the
interpreter and the archive both unpacked) and its warm start.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

MB = 1_000_000

Run = Callable[..., float]


def measure(
    ws: Any,
    runs: int,
    add: Callable[[str, float], None],
    *,
    run: Run,
    first_200: Run,
    server_options: Callable[[str], Sequence[str | Path]],
) -> None:
    bundle = ws.archive.with_name("site-bundle")
    run("bundle: build", [ws.python, "manage.py", "buildpyz", "-o", bundle, "--bundle-python"],
        ws=ws, cwd=ws.site)  # fmt: skip
    add("bundle/size", bundle.stat().st_size / MB)

    def serve(step: str, root: Path) -> float:
        return first_200(
            step,
            lambda bind: [bundle, "serve", *server_options(bind)],
            ws=ws,
            env={**ws.server_env, "SHIV_ROOT": str(root)},
        )

    warm_root = ws.root / "bundle-warm"
    serve("bundle warm-up start", warm_root)
    for index in range(1, runs + 1):
        cold_root = ws.root / f"bundle-cold-{index}"
        add("bundle/first", serve(f"bundle first start {index}", cold_root))
        shutil.rmtree(cold_root)
        add("bundle/warm", serve(f"bundle warm start {index}", warm_root))


def rows(
    got: dict[str, list[float]], archive_mb: float, cold: list[float], warm: list[float]
) -> list[tuple[str, list[float], list[float], str]]:
    """(measure, bundle's samples, baseline's samples, what the baseline is) for Row()."""
    if not got.get("bundle/size"):
        return []
    return [
        ("bundle size (MB)", got["bundle/size"], [archive_mb], "the plain archive"),
        ("bundle start to first 200, first (s)", got["bundle/first"], cold,
         "the plain archive's cold start (host's Python, empty cache)"),
        ("bundle start to first 200, warm (s)", got["bundle/warm"], warm,
         "the plain archive's warm start"),
    ]  # fmt: skip
