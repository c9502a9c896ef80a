"""A command that cannot connect to its database, said in one paragraph.

The rule: an ``OperationalError`` or ``InterfaceError`` that ends a command gets one
paragraph instead of a traceback when it was raised inside the backend's
``get_new_connection()``, the call in which the driver opens the connection. That is
where a missing SQLite folder, a refused connection, failed authentication or a missing
database are reported, whichever code asked for the connection: the server's state or
configuration, which the operator fixes, not the code. Any other database error (a
missing table, a lock, a constraint, SQL of the project's own command) is the code's, and
keeps its traceback; so does every error of a command given Django's ``--traceback``.

The paragraph names the alias, the engine and what was tried (the SQLite file and the
state of its folder; host, port and database otherwise), quotes the first line of the
driver's message, and says what to do. It never shows the configured password.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType
from typing import Any

# sysexits' EX_UNAVAILABLE: a service the command needs is not there. Not in the unit's
# RestartPreventExitStatus=, unlike a bad configuration (78): a database that comes up
# later is worth restarting for.
EXIT_UNAVAILABLE = 69


def database_unreachable(exc: BaseException, argv: list[str]) -> str | None:
    """The paragraph that explains exc, raised while a command of argv ran; None when exc
    is not a failure to connect to a database (or --traceback asks for the traceback)."""
    from django.db.utils import InterfaceError, OperationalError

    if not isinstance(exc, (OperationalError, InterfaceError)) or "--traceback" in argv:
        return None
    wrapper = _connecting_wrapper(exc.__traceback__)
    if wrapper is None:
        return None
    database: dict[str, Any] = wrapper.settings_dict
    engine = str(database.get("ENGINE", ""))
    said = _first_line(exc, str(database.get("PASSWORD") or ""))
    if wrapper.vendor == "sqlite":
        tried, advice = _sqlite(wrapper.alias, database.get("NAME"))
    else:
        tried, advice = _server(wrapper.alias, database)
    return (
        f"Could not connect to the database {wrapper.alias!r} ({engine}): {tried}. The "
        f"driver said: {said}. {advice}"
    )


def _connecting_wrapper(tb: TracebackType | None) -> Any:
    """The DatabaseWrapper whose get_new_connection() the traceback went through."""
    from django.db.backends.base.base import BaseDatabaseWrapper

    while tb is not None:
        frame = tb.tb_frame
        if frame.f_code.co_name == "get_new_connection":
            wrapper = frame.f_locals.get("self")
            if isinstance(wrapper, BaseDatabaseWrapper):
                return wrapper
        tb = tb.tb_next
    return None


def _first_line(exc: BaseException, password: str) -> str:
    lines = str(exc).strip().splitlines()
    line = lines[0].strip().rstrip(".") if lines else type(exc).__name__
    # Drivers do not quote passwords, but a connection string echoed back may hold one.
    return line.replace(password, "********") if password else line


def _sqlite(alias: str, name: object) -> tuple[str, str]:
    path = Path(os.path.abspath(str(name)))
    tried = f"it tried to open the file {str(path)!r}, {_sqlite_place(path)}"
    advice = (
        "The folder must exist and be writable by the user the command and the service run "
        "as (SQLite writes its journal beside the file). Under systemd, StateDirectory= in "
        "the service's unit makes that folder (`systemd-unit` writes one): point "
        f"DATABASES[{alias!r}]['NAME'] there, with %S in the unit or $STATE_DIRECTORY in "
        "the environment the settings read."
    )
    return tried, advice


def _sqlite_place(path: Path) -> str:
    folder = path.parent
    if not folder.is_dir():
        return f"whose folder {str(folder)!r} does not exist"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"whose folder {str(folder)!r} is not writable by this user"
    if path.is_dir():
        return "which is a folder, not a file"
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        return "which is not readable and writable by this user"
    return f"in the folder {str(folder)!r}, which exists and is writable"


def _server(alias: str, database: dict[str, Any]) -> tuple[str, str]:
    host = str(database.get("HOST") or "") or "the local socket"
    port = str(database.get("PORT") or "")
    address = f"{host}:{port}" if port else host
    tried = f"it tried {address}/{database.get('NAME') or ''}"
    advice = (
        "Start the database server, or check where the settings point: the server must "
        "accept connections at that address from this host, the database must exist, and "
        f"USER and PASSWORD of DATABASES[{alias!r}] (or DATABASE_URL, when the settings read "
        "one) must be right."
    )
    return tried, advice
