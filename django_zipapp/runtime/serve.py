"""``./site.pyz serve``: gunicorn in this process, static files from the archive."""

from __future__ import annotations

import argparse
import fcntl
import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gunicorn import systemd
from gunicorn.app.base import BaseApplication

from .bundle import bundled_interpreter
from .config import ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable

    from .archive import Archive

DEFAULT_BIND = "127.0.0.1:8000"
# gunicorn's own worker classes that need nothing beyond gunicorn itself.
WORKER_CLASSES = ("gthread", "sync")
# gthread by default. A sync worker serves one connection at a time and closes it after
# every response: each keep-alive client (a browser fetching a page's CSS, JS and images)
# pays a new TCP connection per file, and one slow client (a phone on a bad network,
# no proxy in front) holds a whole worker until it has sent its request and read the
# answer. gthread keeps idle keep-alive connections in a poller and serves requests on
# a few threads, so slow or idle clients do not block the others. Measured with
# bench/run.py (docs/benchmarks.rst): static files about 1.2 times the sync worker's
# requests per second under keep-alive, dynamic pages on a par, and two half-sent
# requests stop sync entirely but not gthread.
DEFAULT_WORKER_CLASS = "gthread"
# Threads per gthread worker unless configured: enough to overlap slow clients and
# database waits, few enough that the GIL is not fought over.
DEFAULT_THREADS = 4


class ArchiveServer(BaseApplication):  # type: ignore[misc]  # gunicorn ships no types
    """gunicorn's documented custom application: options in, WSGI callable out.

    Settings apply in order, each overriding the one before: serve's defaults and the
    site's configuration, then gunicorn's own GUNICORN_CMD_ARGS, then serve's command line.
    """

    def __init__(
        self,
        options: dict[str, Any],
        load_application: Callable[[], Any],
        command_line: dict[str, Any] | None = None,
    ) -> None:
        self.options = options
        self.command_line = command_line or {}
        self.load_application = load_application
        self.threads_from_environment = False
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)
        from_environment = self.cfg.get_cmd_args_from_env()
        if from_environment:
            self._apply_environment(from_environment)
        for key, value in self.command_line.items():
            self.cfg.set(key, value)
        self._default_threads()

    def _default_threads(self) -> None:
        # Only once the worker class is settled: threads above 1 would silently turn an
        # explicitly chosen sync worker into gthread.
        given = self.threads_from_environment or "threads" in {**self.options, **self.command_line}
        if not given and self.cfg.worker_class_str == "gthread":
            self.cfg.set("threads", DEFAULT_THREADS)

    def _apply_environment(self, arguments: list[str]) -> None:
        # gunicorn's documented variable reaches every setting serve has no option for
        # (keep-alive, max requests, forwarded IPs...), parsed by gunicorn itself.
        parsed = vars(self.cfg.parser().parse_args(arguments))
        if parsed.get("config") is not None:
            raise ValueError(
                "GUNICORN_CMD_ARGS names a gunicorn config file (--config), which serve does "
                "not read; give the settings in GUNICORN_CMD_ARGS itself."
            )
        self.threads_from_environment = parsed.get("threads") is not None
        for key, value in parsed.items():
            if value is not None and key != "args":
                self.cfg.set(key.lower(), value)

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
        epilog="Any other gunicorn setting can be given in GUNICORN_CMD_ARGS, gunicorn's own "
        "environment variable, for example GUNICORN_CMD_ARGS='--max-requests 1000'.",
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
        help="threads per worker; above 1 uses gunicorn's gthread workers "
        f"(config SERVE_THREADS; default {DEFAULT_THREADS} with gthread)",
    )
    parser.add_argument(
        "--worker-class",
        choices=WORKER_CLASSES,
        help=f"gunicorn worker class (config SERVE_WORKER_CLASS; default {DEFAULT_WORKER_CLASS})",
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
        "--allow-debug",
        action="store_true",
        help="serve even with DEBUG on, which serve otherwise refuses (config SERVE_ALLOW_DEBUG)",
    )
    parser.add_argument(
        "--allow-insecure-secret-key",
        action="store_true",
        help="serve even with a SECRET_KEY that Django's check --deploy calls insecure, or "
        "one written in the archive's own files (config SERVE_WEAK_KEY_OK)",
    )
    interface = parser.add_mutually_exclusive_group()
    interface.add_argument(
        "--asgi",
        action="store_true",
        help="run the site's ASGI application (ASGI_APPLICATION, or the project's asgi.py) "
        "in uvicorn's gunicorn worker: async views, streaming, websockets (default: the "
        "setting ZIPAPP_ASGI at build time; the archive needs the ASGI worker packed)",
    )
    interface.add_argument(
        "--wsgi",
        action="store_true",
        help="run the site's WSGI application, even if it was built for ASGI",
    )
    parser.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error", "critical"],
        help="gunicorn's log level (default info)",
    )
    return parser


def gunicorn_options(config: object | None, proc_name: str) -> dict[str, Any]:
    """serve's defaults, overridden by the site's configuration (file and environment)."""

    def configured(field: str, default: Any) -> Any:
        value = getattr(config, field, None)
        return default if value is None else value

    # 0 (the config's default, as TOML has no null) leaves it to the worker class.
    threads = configured("SERVE_THREADS", None) or None
    return {
        **({"threads": threads} if threads is not None else {}),
        "bind": _split_binds(configured("SERVE_BIND", DEFAULT_BIND)),
        "workers": configured("SERVE_WORKERS", None) or default_workers(),
        "worker_class": configured("SERVE_WORKER_CLASS", DEFAULT_WORKER_CLASS),
        "timeout": configured("SERVE_TIMEOUT", 30),
        "accesslog": configured("SERVE_ACCESS_LOG", "-") or None,
        "errorlog": "-",
        "loglevel": "info",
        "proc_name": proc_name,
        # Import Django once in the master: a broken site fails once, cleanly, instead of
        # in every worker, and workers share the imported code's memory.
        "preload_app": True,
        **_without_control_socket(),
        "when_ready": take_over_from_old_master,
        "pre_exec": before_the_new_master,
        "post_fork": keep_the_masters_signal_queue,
        "post_worker_init": replay_signals_received_while_booting,
    }


def _without_control_socket() -> dict[str, Any]:
    # gunicorn 25.1 and newer open a control socket under $HOME/.gunicorn, which a
    # sandboxed service does not have, and which two sites of one user would share.
    # Older ones (down to the floor, 24.0) have neither the socket nor the setting.
    from gunicorn.config import make_settings

    return {"control_socket_disable": True} if "control_socket_disable" in make_settings() else {}


def keep_the_masters_signal_queue(arbiter: Any, worker: Any) -> None:
    # Until the worker installs its own handlers, a signal reaching it runs the master's
    # handler inherited through fork, which only queues it in this copy of the master:
    # a SIGTERM from systemd in that moment would be lost, and the stop would wait for
    # gunicorn's graceful timeout before killing the worker.
    worker.signals_while_booting = arbiter.SIG_QUEUE


def replay_signals_received_while_booting(worker: Any) -> None:
    pending = getattr(worker, "signals_while_booting", None)
    while pending is not None and not pending.empty():
        received = pending.get_nowait()
        if received in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
            os.kill(os.getpid(), received)  # to the worker's own handlers, now in place


def before_the_new_master(arbiter: Any) -> None:
    """In the forked child that execs the new master on a reload (USR2)."""
    hand_over_systemd_sockets(arbiter)
    start_through_the_launcher(arbiter)


def start_through_the_launcher(arbiter: Any) -> None:
    """A bundled archive's new master starts by the file's own launcher, as systemd did.

    gunicorn execs ``sys.executable`` on the archive; for a bundle that is the old build's
    interpreter, which loads its libraries only through the launcher's LD_LIBRARY_PATH
    (gone from the environment since the start, see boot/environment.py), and which the new
    build may not even bundle. The file on disk starts its own interpreter.
    """
    archive = arbiter.START_CTX["args"][1:2]
    if archive and bundled_interpreter(Path(archive[0])) is not None:
        arbiter.START_CTX[0] = archive[0]
        arbiter.START_CTX["args"] = arbiter.START_CTX["args"][1:]


def hand_over_systemd_sockets(arbiter: Any) -> None:
    """Before a reload's exec: put systemd's sockets back where LISTEN_FDS says they are.

    gunicorn passes sockets it got from systemd on as LISTEN_FDS=n, which means file
    descriptors 3 to 2+n; but it moved them elsewhere when it took them (socket.fromfd),
    and the new master would find fd 3 closed. Runs in the forked child that execs.
    """
    if not arbiter.systemd:
        return
    # Duplicated out of the way first, so that no socket is overwritten by another.
    high = [fcntl.fcntl(listener.fileno(), fcntl.F_DUPFD, 64) for listener in arbiter.LISTENERS]
    for index, descriptor in enumerate(high):
        os.dup2(descriptor, systemd.SD_LISTEN_FDS_START + index)  # inheritable
        os.close(descriptor)


def take_over_from_old_master(arbiter: Any) -> None:
    """Finish a reload: ``kill -USR2`` made the old master start this one.

    gunicorn's USR2 starts a new master from the archive now on disk (new code, a new
    extraction) on the same listening sockets, next to the old one. This master tells
    systemd it is the service's main process now (NotifyAccess=all), then stops the old
    master gracefully: its workers finish the requests they have, while new connections
    wait in the shared listen backlog for this master's workers. No request is refused.
    """
    old_master = arbiter.master_pid
    if not old_master or old_master != os.getppid():
        return  # a first start, not a reload
    systemd.sd_notify(f"MAINPID={os.getpid()}", arbiter.log)
    os.kill(old_master, signal.SIGTERM)


def command_line_options(args: argparse.Namespace) -> dict[str, Any]:
    """The options given to serve itself, which win over every other source."""
    given = {
        "bind": args.bind,
        "workers": args.workers,
        "threads": args.threads,
        "worker_class": args.worker_class,
        "timeout": args.timeout,
        "loglevel": args.log_level,
    }
    options = {key: value for key, value in given.items() if value is not None}
    if args.access_log is not None:
        options["accesslog"] = args.access_log or None
    return options


def _split_binds(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def run(archive: Archive, argv: list[str]) -> int:
    from django.conf import settings

    from .safety import refuse_unsafe_settings

    # serve's own options first: --help and a bad option need no configuration.
    args = build_parser(archive.prog).parse_args(argv)
    config = archive.load_config()
    if config is None:
        from .serve_environment import serve_settings

        config = serve_settings()
    archive.point_settings_at_archive()
    refuse_unsafe_settings(
        settings,
        allow_debug=args.allow_debug or bool(getattr(config, "SERVE_ALLOW_DEBUG", False)),
        allow_insecure_secret_key=args.allow_insecure_secret_key
        or bool(getattr(config, "SERVE_WEAK_KEY_OK", False)),
        site_packages=archive.site_packages,
    )
    options = gunicorn_options(config, proc_name=archive.prog)
    command_line = command_line_options(args)
    if runs_asgi(args, settings):
        from .asgi import WORKER_CLASS, asgi_application, require_worker

        if args.worker_class is not None or args.threads is not None:
            raise ConfigError(
                "--worker-class and --threads choose how WSGI is served; under ASGI each "
                "worker runs uvicorn's event loop. Leave them out, or give --wsgi."
            )
        require_worker()
        # Last: the configuration's SERVE_WORKER_CLASS is a WSGI class.
        command_line["worker_class"] = WORKER_CLASS
        ArchiveServer(options, lambda: asgi_application(archive), command_line).run()
        return 0
    ArchiveServer(options, lambda: wsgi_application(archive), command_line).run()
    return 0


def runs_asgi(args: argparse.Namespace, settings: Any) -> bool:
    """--asgi or --wsgi, else what the site was built for (ZIPAPP_ASGI)."""
    if args.asgi or args.wsgi:
        return bool(args.asgi)
    return bool(getattr(settings, "ZIPAPP_ASGI", False))


def wsgi_application(archive: Archive) -> Any:
    from django.conf import settings
    from django.core.wsgi import get_wsgi_application
    from django.db import connections
    from django.utils.module_loading import import_string

    from .loading import (
        drop_middleware_and_say,
        freeze_what_was_loaded,
        load_what_first_requests_load,
    )
    from .logs import keep_logs
    from .media import wrap_with_media
    from .static import archive_static

    drop_middleware_and_say(settings)
    # What runserver's get_internal_wsgi_application does, without importing runserver's
    # own server (wsgiref, http.server, socketserver) into every start.
    path = settings.WSGI_APPLICATION
    application = import_string(path) if path else get_wsgi_application()
    keep_logs()
    load_what_first_requests_load()
    # Loaded once in gunicorn's master before the workers fork: a connection an app opened
    # while loading must not be shared by every worker.
    connections.close_all()
    static = archive_static(
        wrap_with_media(application, archive.site_packages.parent.parent),
        archive.site_packages,
        settings,
    )
    freeze_what_was_loaded()
    return static
