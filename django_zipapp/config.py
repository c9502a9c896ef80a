"""A goodconf base class for projects that run as an archive."""

from __future__ import annotations

from typing import Literal

from goodconf import Field, GoodConf


class ZipappConfig(GoodConf):
    """Runtime configuration of a Django site served from an archive."""

    SERVE_BIND: str = Field(
        default="127.0.0.1:8000",
        description="Where `serve` listens: HOST:PORT, unix:PATH, or several separated by commas.",
    )
    SERVE_WORKERS: int | None = Field(
        default=None,
        ge=1,
        description="Worker processes for `serve`; by default (2 x CPUs) + 1.",
    )
    SERVE_THREADS: int | None = Field(
        default=None,
        ge=1,
        description="Threads per worker; above 1 `serve` uses threaded workers. "
        "By default 4 with the gthread worker class, 1 with sync.",
    )
    SERVE_WORKER_CLASS: Literal["gthread", "sync"] = Field(
        default="gthread",
        description="gunicorn's worker class for `serve`: gthread (keep-alive, slow "
        "clients) or sync.",
    )
    SERVE_TIMEOUT: int = Field(
        default=30, ge=1, description="Seconds a request may take before its worker is restarted."
    )
    SERVE_ACCESS_LOG: str = Field(
        default="-",
        description="Where `serve` writes its access log: a path, '-' for stdout, "
        "or empty for none.",
    )
