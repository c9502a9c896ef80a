"""Where serve's gunicorn settings come from, read back from gunicorn's own Config.

The server is configured, not started: test_e2e.py starts real ones.
"""

from __future__ import annotations

import queue
import signal
from importlib.metadata import version
from types import SimpleNamespace
from typing import Any

import pytest

from django_zipapp.runtime.serve import (
    ArchiveServer,
    build_parser,
    command_line_options,
    default_workers,
    gunicorn_options,
    keep_the_masters_signal_queue,
    replay_signals_received_while_booting,
    runs_asgi,
)


def gunicorn_version() -> tuple[int, ...]:
    return tuple(int(part) for part in version("gunicorn").split(".")[:2])


def configured(argv: list[str], config: object | None = None) -> Any:
    args = build_parser("site.pyz").parse_args(argv)
    server = ArchiveServer(
        gunicorn_options(config, "site.pyz"), lambda: None, command_line_options(args)
    )
    return server.cfg


@pytest.fixture(autouse=True)
def no_gunicorn_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GUNICORN_CMD_ARGS", raising=False)


def test_defaults() -> None:
    cfg = configured([])
    assert cfg.bind == ["127.0.0.1:8000"]
    assert cfg.workers == default_workers()
    assert (cfg.worker_class_str, cfg.threads) == ("gthread", 4)
    assert (cfg.timeout, cfg.loglevel) == (30, "info")
    assert cfg.accesslog == "-"
    assert cfg.errorlog == "-"
    assert cfg.preload_app is True
    # gunicorn 25.1 opens a control socket under $HOME unless told not to; older ones
    # (the floor, 24.0, in tox's floors environment) have no such socket nor setting.
    assert getattr(cfg, "control_socket_disable", "no such setting") in (True, "no such setting")
    assert ("control_socket_disable" in cfg.settings) == (gunicorn_version() >= (25, 1))
    assert cfg.proc_name == "site.pyz"


def test_config_beats_defaults() -> None:
    config = SimpleNamespace(
        SERVE_BIND="0.0.0.0:80, unix:/run/site.sock",
        SERVE_WORKERS=3,
        SERVE_THREADS=4,
        SERVE_TIMEOUT=90,
        SERVE_ACCESS_LOG="",
    )
    cfg = configured([], config)
    assert cfg.bind == ["0.0.0.0:80", "unix:/run/site.sock"]
    assert (cfg.workers, cfg.threads, cfg.timeout) == (3, 4, 90)
    assert cfg.accesslog is None
    assert cfg.worker_class_str == "gthread"  # gunicorn's choice for threads > 1


def test_gunicorn_cmd_args_beat_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUNICORN_CMD_ARGS", "--workers 5 --max-requests 1000 --keep-alive 10")
    cfg = configured([], SimpleNamespace(SERVE_WORKERS=3, SERVE_TIMEOUT=90))
    assert (cfg.workers, cfg.max_requests, cfg.keepalive) == (5, 1000, 10)
    assert cfg.timeout == 90


def test_command_line_beats_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUNICORN_CMD_ARGS", "--workers 5 --bind 0.0.0.0:9999")
    config = SimpleNamespace(SERVE_BIND="0.0.0.0:80", SERVE_WORKERS=3, SERVE_ACCESS_LOG="")
    cfg = configured(
        ["--bind", "127.0.0.1:9000", "--bind", "[::1]:9000", "--workers", "2",
         "--access-log", "/var/log/site.log", "--log-level", "warning"],
        config,
    )  # fmt: skip
    assert cfg.bind == ["127.0.0.1:9000", "[::1]:9000"]
    assert cfg.workers == 2
    assert cfg.accesslog == "/var/log/site.log"
    assert cfg.loglevel == "warning"


def test_empty_access_log_option_turns_it_off() -> None:
    assert configured(["--access-log", ""]).accesslog is None


def test_config_without_serve_fields() -> None:
    assert configured([], SimpleNamespace()).bind == ["127.0.0.1:8000"]


def test_gunicorn_config_file_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GUNICORN_CMD_ARGS", "--config gunicorn.conf.py")
    with pytest.raises(SystemExit) as caught:
        configured([])
    assert caught.value.code == 1
    assert capsys.readouterr().err == (
        "\nError: GUNICORN_CMD_ARGS names a gunicorn config file (--config), which serve "
        "does not read; give the settings in GUNICORN_CMD_ARGS itself.\n"
    )


@pytest.mark.parametrize("value", ["0", "-1", "two"])
def test_bad_numbers_are_usage_errors(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        build_parser("site.pyz").parse_args(["--workers", value])
    assert caught.value.code == 2
    assert "site.pyz serve: error: argument --workers:" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "config", "environment", "expected"),
    [
        (["--worker-class", "sync"], None, "", ("sync", 1)),
        ([], SimpleNamespace(SERVE_WORKER_CLASS="sync"), "", ("sync", 1)),
        ([], None, "--worker-class sync", ("sync", 1)),
        (["--worker-class", "gthread", "--threads", "2"], None, "", ("gthread", 2)),
        ([], SimpleNamespace(SERVE_THREADS=1), "", ("gthread", 1)),
        ([], None, "--threads 1", ("gthread", 1)),
        (["--worker-class", "sync", "--threads", "3"], None, "", ("gthread", 3)),
    ],
)
def test_worker_class_and_its_threads(
    argv: list[str],
    config: object | None,
    environment: str,
    expected: tuple[str, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if environment:
        monkeypatch.setenv("GUNICORN_CMD_ARGS", environment)
    cfg = configured(argv, config)
    assert (cfg.worker_class_str, cfg.threads) == expected


def test_unknown_worker_class_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        build_parser("site.pyz").parse_args(["--worker-class", "gevent"])
    assert caught.value.code == 2
    assert "argument --worker-class: invalid choice: 'gevent'" in capsys.readouterr().err


def test_a_stop_signal_received_while_a_worker_boots_is_replayed() -> None:
    # What gunicorn's inherited master handler does with a SIGTERM before the worker
    # installs its own: it queues it in the worker's copy of the master's queue.
    copied_master = SimpleNamespace(SIG_QUEUE=queue.SimpleQueue())
    worker = SimpleNamespace()
    keep_the_masters_signal_queue(copied_master, worker)
    copied_master.SIG_QUEUE.put_nowait(signal.SIGHUP)  # not a stop: left alone
    copied_master.SIG_QUEUE.put_nowait(signal.SIGTERM)
    received: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda number, frame: received.append(number))
    try:
        replay_signals_received_while_booting(worker)  # the worker's own handler is in place
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert received == [signal.SIGTERM]


@pytest.mark.parametrize(
    ("argv", "built_for_asgi", "expected"),
    [
        ([], False, False),
        ([], True, True),
        (["--asgi"], False, True),
        (["--wsgi"], True, False),
    ],
)
def test_asgi_from_the_setting_or_the_command_line(
    argv: list[str], built_for_asgi: bool, expected: bool
) -> None:
    args = build_parser("site.pyz").parse_args(argv)
    assert runs_asgi(args, SimpleNamespace(ZIPAPP_ASGI=built_for_asgi)) is expected


def test_asgi_and_wsgi_together_are_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        build_parser("site.pyz").parse_args(["--asgi", "--wsgi"])
    assert caught.value.code == 2
    assert "argument --wsgi: not allowed with argument --asgi" in capsys.readouterr().err
