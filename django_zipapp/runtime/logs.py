"""The server's log and the errors raised while answering a request reach the output,
whatever LOGGING says."""

from __future__ import annotations

import logging
import sys

from django.utils.log import AdminEmailHandler

# gunicorn's own error log format, so that the journal reads as one log.
FORMAT = "[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S %z"


# gunicorn's own loggers: its start and worker lines, and the access log; and under ASGI
# uvicorn's, which its gunicorn worker points at gunicorn's handlers (an exception the
# ASGI application raises outside Django's handler is logged on uvicorn.error).
SERVER_LOGGERS = ("gunicorn.error", "gunicorn.access", "uvicorn.error", "uvicorn.access")


def keep_logs() -> None:
    """Once the site is loaded: what its LOGGING switched off that serve must keep.

    A LOGGING with ``disable_existing_loggers`` (cookiecutter-django's production
    settings) disables every logger that exists when Django configures logging. The site
    is loaded in gunicorn's master after gunicorn made its loggers, so gunicorn's own
    lines, the access log and ``django.request``'s 500s would all go silent.
    """
    for name in SERVER_LOGGERS:
        # They write to gunicorn's own handlers and do not propagate: nothing else changes.
        logging.getLogger(name).disabled = False
    report_request_errors()


def report_request_errors() -> None:
    """Add a stderr handler to ``django.request`` unless an error already reaches a log.

    Django's default logging (and startproject's) sends a 500 only to mail_admins when
    DEBUG is off, and with no ADMINS to nobody: the error would leave no trace. A project
    that logs errors itself (a file, syslog, Sentry, its own console) is left alone.
    """
    logger = logging.getLogger("django.request")
    if logger.disabled:
        # Switched off with every logger that existed, not named in LOGGING: its errors
        # go to stderr alone, not to the handlers of ancestors that were left to it.
        logger.disabled = False
        logger.propagate = False
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
