"""A request's error reaches stderr unless the project already logs it somewhere."""

from __future__ import annotations

import logging
import logging.config
from collections.abc import Iterator
from copy import deepcopy
from typing import Any

import pytest
from django.test import override_settings
from django.utils.log import DEFAULT_LOGGING

from django_zipapp.runtime.logs import report_request_errors


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
            report_request_errors()
        finally:
            root.handlers[:] = captured
        return logging.getLogger("django.request").handlers

    yield apply
    logging.config.dictConfig(DEFAULT_LOGGING)
    logging.getLogger("django.request").handlers.clear()


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
