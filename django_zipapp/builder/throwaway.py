"""A throwaway database on the server a verification's DATABASE_URL names.

As Django's test runner does: the verification creates a new database on that server,
migrates it, serves the site from it and drops it. The archive is only ever given the
URL of the new database, so the database the URL names is never opened, let alone
migrated. The work is done by the archive itself (its `shell`), with the driver the
site carries: the build machine needs none.
"""

from __future__ import annotations

import re
import secrets
from urllib.parse import unquote, urlsplit

# Run by the archive's `shell` after serve, given the throwaway database's URL: drop
# each database of the settings that is the throwaway one, if the preparation got as far
# as creating it. PostgreSQL refuses to drop a database while the server that was just
# killed still has a session open in it, for a moment: a few tries.
DROP_SCRIPT = """\
import os, time
from django.db import connections
throwaway = os.environ["DJANGO_ZIPAPP_VERIFY_DATABASE"]
for alias in [a for a in connections if connections[a].settings_dict["NAME"] == throwaway]:
    for attempt in range(40):
        try:
            connections[alias].creation.destroy_test_db(verbosity=0)
            break
        except Exception as exc:
            if "does not exist" in str(exc) or "doesn't exist" in str(exc):
                break
            if attempt == 39:
                raise
            time.sleep(0.25)
"""
# The line Django's database creation writes before it exits, when the server refuses.
REFUSED = re.compile(r"Got an error (?:re)?creating the test database: (.+)")


def is_server_url(url: str) -> bool:
    """Whether a DATABASE_URL names a database on a server, rather than a file."""
    scheme = urlsplit(url).scheme.lower()
    return bool(scheme) and not scheme.startswith(("sqlite", "spatialite"))


def throwaway_url(url: str) -> tuple[str, str]:
    """The URL of a new database on the server url names, and that database's name."""
    parts = urlsplit(url)
    named = re.sub(r"[^a-z0-9_]", "_", unquote(parts.path.lstrip("/")).lower())[:40]
    # Django's test databases are test_<NAME>; a random suffix lets builds run side by side.
    name = f"test_{named or 'site'}_{secrets.token_hex(4)}"
    return parts._replace(path=f"/{name}").geturl(), name


def refusal(output: str, name: str, url: str) -> str | None:
    """One paragraph for a server that refused to create the database; None otherwise."""
    found = REFUSED.search(output)
    if found is None:
        return None
    role = urlsplit(url).username or "the role"
    return (
        f"The verification creates a throwaway database, {name!r}, on the server of the "
        "DATABASE_URL it was given, as Django's test runner does, and serves the site from "
        f"it rather than from the database the URL names, but the server refused: "
        f"{found[1].strip()}. Let {role!r} create databases (on PostgreSQL: ALTER ROLE "
        f"{role} CREATEDB), or give the verification the URL of a role that may "
        "(--verify-env DATABASE_URL=...), or build with --no-verify (ZIPAPP_VERIFY = "
        "False) to skip this step."
    )
