"""``./site.pyz serve``: gunicorn in this process, static files from the archive."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, Any

from gunicorn.app.base import BaseApplication

if TYPE_CHECKING:
    from collections.abc import Callable

DEFAULT_BIND = "127.0.0.1:8000"


class ArchiveServer(BaseApplication):  # type: ignore[misc]  # gunicorn ships no types
    """gunicorn's documented custom application: options in, WSGI callable out."""

    def __init__(self, options: dict[str, Any], load_application: Callable[[], Any]) -> None:
        self.options = options
        self.load_application = load_application
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return self.load_application()


def default_workers() -> int:
    # gunicorn's documented starting point: (2 x cores) + 1, counting the CPUs this
    # process may actually run on.
    affinity = getattr(os, "sched_getaffinity", None)  # not on macOS
    cpus = len(affinity(0)) if affinity else (os.cpu_count() or 1)
    return 2 * cpus + 1


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be 1 or more")
    return value


def build_parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"{prog} serve",
        description="Serve the site with gunicorn; static files are answered from the archive.",
        allow_abbrev=False,
    )
    parser.add_argument(
        "--bind",
        action="append",
        metavar="HOST:PORT",
        help=f"address to listen on, repeatable (config SERVE_BIND; default {DEFAULT_BIND})",
    )
    parser.add_argument(
        "--workers",
        type=positive_int,
        metavar="N",
        help="worker processes (config SERVE_WORKERS; default (2 x CPUs) + 1)",
    )
    parser.add_argument(
        "--threads",
        type=positive_int,
        metavar="N",
        help="threads per worker; above 1 uses gunicorn's gthread workers (config SERVE_THREADS)",
    )
    parser.add_argument(
        "--timeout",
        type=positive_int,
        metavar="SECONDS",
        help="restart a worker whose request takes longer (config SERVE_TIMEOUT; default 30)",
    )
    parser.add_argument(
        "--access-log",
        metavar="PATH",
        help="access log file, '-' for stdout, '' for none (config SERVE_ACCESS_LOG; default -)",
    )
    parser.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error", "critical"],
        default="info",
        help="gunicorn's log level (default info)",
    )
    return parser


def gunicorn_options(
    args: argparse.Namespace, config: object | None, proc_name: str
) -> dict[str, Any]:
    """Command line beats the config file and environment, which beat the defaults."""

    def pick(option: Any, field: str, default: Any) -> Any:
        if option is not None:
            return option
        value = getattr(config, field, None)
        return default if value is None else value

    bind = args.bind or _split_binds(pick(None, "SERVE_BIND", DEFAULT_BIND))
    access_log = pick(args.access_log, "SERVE_ACCESS_LOG", "-")
    return {
        "bind": bind,
        "workers": pick(args.workers, "SERVE_WORKERS", None) or default_workers(),
        "threads": pick(args.threads, "SERVE_THREADS", 1),
        "timeout": pick(args.timeout, "SERVE_TIMEOUT", 30),
        "accesslog": access_log or None,
        "errorlog": "-",
        "loglevel": args.log_level,
        "proc_name": proc_name,
        # Import Django once in the master: a broken site fails once, cleanly, instead of
        # in every worker, and workers share the imported code's memory.
        "preload_app": True,
        # gunicorn would otherwise open a control socket under $HOME/.gunicorn, which a
        # sandboxed service does not have, and which two sites of one user would share.
        "control_socket_disable": True,
    }


def _split_binds(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def serve(
    args: argparse.Namespace,
    *,
    prog: str,
    config: object | None,
    load_application: Callable[[], Any],
) -> int:
    options = gunicorn_options(args, config, proc_name=prog)
    ArchiveServer(options, load_application).run()
    return 0
