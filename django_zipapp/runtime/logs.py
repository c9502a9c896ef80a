"""Errors raised while answering a request reach stderr, whatever LOGGING says."""

from __future__ import annotations

import logging
import sys

from django.utils.log import AdminEmailHandler

# gunicorn's own error log format, so that the journal reads as one log.
FORMAT = "[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S %z"


def report_request_errors() -> None:
    """Add a stderr handler to ``django.request`` unless an error already reaches a log.

    Django's default logging (and startproject's) sends a 500 only to mail_admins when
    DEBUG is off, and with no ADMINS to nobody: the error would leave no trace. A project
    that logs errors itself (a file, syslog, Sentry, its own console) is left alone.
    """
    logger = logging.getLogger("django.request")
    if not _error_reaches_a_log(logger):
        handler = logging.StreamHandler(sys.stderr)
        handler.setLevel(logging.ERROR)
        handler.setFormatter(logging.Formatter(FORMAT, DATE_FORMAT))
        logger.addHandler(handler)


def _error_reaches_a_log(logger: logging.Logger) -> bool:
    record = logger.makeRecord(logger.name, logging.ERROR, __file__, 0, "probe", (), None)
    current: logging.Logger | None = logger
    while current is not None:
        for handler in current.handlers:
            if _writes(handler, record):
                return True
        current = current.parent if current.propagate else None
    return False


def _writes(handler: logging.Handler, record: logging.LogRecord) -> bool:
    if isinstance(handler, (AdminEmailHandler, logging.NullHandler)):
        return False
    # Runs the handler's filters (require_debug_true drops everything when DEBUG is off).
    return handler.level <= logging.ERROR and bool(handler.filter(record))


def notice(message: str) -> None:
    """One line on stderr in gunicorn's format, whatever the project's LOGGING says."""
    record = logging.LogRecord("django_zipapp", logging.INFO, __file__, 0, message, (), None)
    sys.stderr.write(logging.Formatter(FORMAT, DATE_FORMAT).format(record) + "\n")
    sys.stderr.flush()
