"""A request's error reaches stderr unless the project already logs it somewhere, and the
server's own log stays on whatever the project's LOGGING switched off."""

from __future__ import annotations

import logging
import logging.config
from collections.abc import Iterator
from copy import deepcopy
from typing import Any

import pytest
from django.test import override_settings
from django.utils.log import DEFAULT_LOGGING

from django_zipapp.runtime.logs import SERVER_LOGGERS, keep_logs


@pytest.fixture
def configure() -> Iterator[Any]:
    root = logging.getLogger()

    def apply(config: dict[str, Any]) -> list[logging.Handler]:
        # pytest's capturing handlers sit on the root logger during the test; they are
        # not the project's.
        captured = root.handlers[:]
        root.handlers.clear()
        try:
            logging.config.dictConfig(config)
            keep_logs()
        finally:
            root.handlers[:] = captured
        return logging.getLogger("django.request").handlers

    yield apply
    logging.config.dictConfig(DEFAULT_LOGGING)
    request = logging.getLogger("django.request")
    request.handlers.clear()
    request.propagate = True


@override_settings(DEBUG=False)
def test_django_default_sends_errors_only_by_mail(configure: Any) -> None:
    (added,) = configure(deepcopy(DEFAULT_LOGGING))
    assert isinstance(added, logging.StreamHandler)
    assert added.level == logging.ERROR


@override_settings(DEBUG=False)
def test_a_project_handler_is_left_alone(configure: Any) -> None:
    config = deepcopy(DEFAULT_LOGGING)
    config["handlers"]["file"] = {"class": "logging.NullHandler"}  # not a log: still added
    config["handlers"]["errors"] = {"class": "logging.StreamHandler", "level": "WARNING"}
    config["loggers"]["django"]["handlers"] = ["console", "mail_admins", "errors"]
    assert configure(config) == []


@override_settings(DEBUG=True)
def test_debug_console_already_shows_errors(configure: Any) -> None:
    assert configure(deepcopy(DEFAULT_LOGGING)) == []


@override_settings(DEBUG=False)
def test_loggers_switched_off_by_disable_existing_loggers_are_kept(configure: Any) -> None:
    # As gunicorn's master has them when it loads the site (preload_app).
    server = [logging.getLogger(name) for name in SERVER_LOGGERS]
    config = {
        "version": 1,
        "disable_existing_loggers": True,
        "handlers": {"console": {"class": "logging.StreamHandler"}},
        "root": {"level": "INFO", "handlers": ["console"]},
    }
    (added,) = configure(config)
    assert isinstance(added, logging.StreamHandler)
    assert added.level == logging.ERROR
    request = logging.getLogger("django.request")
    assert not request.disabled
    assert not request.propagate  # the handlers above it were switched off with it
    assert [logger.disabled for logger in server] == [False] * len(SERVER_LOGGERS)
    assert "uvicorn.error" in SERVER_LOGGERS
