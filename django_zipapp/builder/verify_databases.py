"""The verification's databases: temporary SQLite files, kept between one site's builds
as a server keeps its database, or a throwaway database on the server of a DATABASE_URL
given (throwaway.py), created and dropped by the archive itself.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

from . import throwaway
from .errors import BuildError
from .verify_commands import VerificationFailed, finish, run, start

# In the builder's cache: the databases the last verification of each site migrated.
DATABASES = "databases"
# Run by the archive's `shell`: create and migrate, as Django's test runner does, each
# database of the settings named after the throwaway database on a server; migrate as
# `migrate --noinput` does when every other database is an SQLite file in the
# verification's scratch folder; say which, and where the admin's login page is.
SCRATCH_VARIABLE = "DJANGO_ZIPAPP_VERIFY_SCRATCH"
THROWAWAY_VARIABLE = "DJANGO_ZIPAPP_VERIFY_DATABASE"
MIGRATE_SCRIPT = f"""\
import json, os, pathlib
from django.core.management import call_command
from django.db import connections
scratch = pathlib.Path(os.environ["{SCRATCH_VARIABLE}"]).resolve()
throwaway = os.environ.get("{THROWAWAY_VARIABLE}")
named = {{a: connections[a].settings_dict["NAME"] for a in connections}}
created = [a for a, name in named.items() if throwaway and name == throwaway]
for alias in created:
    connections[alias].settings_dict["TEST"]["NAME"] = throwaway
    connections[alias].creation.create_test_db(verbosity=0, autoclobber=True)
others = [connections[a].settings_dict for a in connections if a not in created]
temporary = all(
    "sqlite" in str(d.get("ENGINE", ""))
    and pathlib.Path(str(d.get("NAME", ""))).resolve().is_relative_to(scratch)
    for d in others
)
if temporary and others:
    call_command("migrate", interactive=False, verbosity=0)
files = [str(d.get("NAME", "")) for d in others] if temporary else []
try:
    from django_zipapp.runtime.admin_login import admin_login_path
    admin = admin_login_path()
except Exception:  # a URLconf that fails: serve says so, on the first page
    admin = None
print(json.dumps({{"migrated": temporary, "files": files, "created": created, "admin": admin}}))
"""


class Prepared(NamedTuple):
    """What the archive said while its databases were prepared."""

    migrated: list[Path]  # the temporary SQLite databases migrated
    created: list[str]  # the aliases of the throwaway databases on a server
    admin_login: str | None  # the admin's login page, as the archive serves it


def prepare_databases(
    archive: Path, env: dict[str, str], scratch: Path, given: str | None, restored: list[Path]
) -> Prepared:
    try:
        try:
            return _migrate_if_temporary(archive, env, scratch)
        except BuildError:
            if not restored:
                raise
            # The previous build's migrations may not lead to this one's (another
            # branch): a new database, as for a first build.
            _forget(restored)
            return _migrate_if_temporary(archive, env, scratch)
    except VerificationFailed as failure:
        database = env.get(THROWAWAY_VARIABLE)
        refused = database and throwaway.refusal(failure.output, database, given or "")
        if refused:
            raise BuildError(refused) from None
        raise


def sqlite_variable(
    databases: Mapping[str, Mapping[str, object]],
    read: Sequence[str],
    environ: Mapping[str, str],
) -> str | None:
    """`NAME=VALUE` for --verify-env: the variable the settings read whose value, where the
    build runs, is the path of their SQLite file (or its folder), with that path in a
    folder of the verification instead."""
    for database in databases.values():
        if "sqlite" not in str(database.get("ENGINE", "")):
            continue
        path = Path(str(database.get("NAME", "")))
        for name in read:
            value = environ.get(name)
            if value and Path(value) == path:
                return f"{name}=%S/site/{path.name}"
            if value and Path(value) == path.parent:
                return f"{name}=%S/site"
    return None


def note_unmigrated(
    migrated: list[Path],
    created: list[str],
    given: str | None,
    report: Callable[[str], None],
    sqlite: str | None = None,
) -> None:
    """sqlite: what sqlite_variable found, for a note that names the variable."""
    if migrated or created:
        return
    if given is None and sqlite is not None:
        name = sqlite.partition("=")[0]
        report(
            "Note: the verification did not migrate: the settings read the path of their "
            f"SQLite database from {name}, which the verification does not give (it starts "
            "the archive without the build's environment). Give it one as the server "
            f"would, with --verify-env {sqlite} (%S stands for a folder of the "
            "verification, as for /var/lib in a unit)"
        )
    elif given is None:
        report(
            "Note: the verification did not migrate: a database of the settings is not "
            "a temporary SQLite file. Give the settings one as the server would, with "
            "--verify-env NAME=%S/site/db.sqlite3 for the variable they read its path from "
            "(%S stands for a folder of the verification, as for /var/lib in a unit), or "
            "--verify-env DATABASE_URL=... when they read DATABASE_URL"
        )
    elif given.startswith("sqlite"):
        report(
            f"Note: the verification did not migrate: the DATABASE_URL it was given, "
            f"{given!r}, names a SQLite file of the build machine, which it never migrates. "
            "Leave DATABASE_URL out of --verify-env, and the verification gives the settings "
            "a temporary SQLite file of its own, or give --verify-env "
            "DATABASE_URL=sqlite:///%S/site/db.sqlite3 (%S stands for a folder of the "
            "verification, as for /var/lib in a unit)"
        )
    else:
        report(
            "Note: the verification did not migrate: the DATABASE_URL it was given does "
            "not name a database on a server, or the settings do not read it"
        )


# The database servers a DATABASE_URL names, by a word of their Django ENGINE: the name
# and the URL scheme a hint shows.
SERVERS = {
    "postgis": ("PostgreSQL", "postgres"),
    "postgresql": ("PostgreSQL", "postgres"),
    "mysql": ("MySQL", "mysql"),
    "oracle": ("Oracle", "oracle"),
}
# A frame of Django's SQLite backend, in the traceback of a failed command or request.
SQLITE_FRAME = "/django/db/backends/sqlite3/"


def sqlite_stand_in_hint(output: str, engines: Iterable[str], given: Mapping[str, str]) -> str:
    """A sentence for a site whose settings run on a database server, when the temporary
    SQLite file the verification gave it in that server's place failed: SQL written for
    the server (cookiecutter-django's sites migration reads PostgreSQL's sequences)."""
    if "DATABASE_URL" in given or SQLITE_FRAME not in output:
        return ""
    servers = [SERVERS[word] for engine in engines for word in SERVERS if word in engine]
    if not servers:
        return ""
    name, scheme = servers[0]
    return (
        f"The settings' database is {name}, but without a DATABASE_URL the verification "
        f"runs the site on a temporary SQLite file, where what only {name} has fails: "
        f"give it a {name} server as the server has, with `python manage.py buildpyz "
        f"--verify-env DATABASE_URL={scheme}://USER:PASSWORD@HOST/NAME` (or "
        "ZIPAPP_VERIFY_ENV), and it creates a throwaway database there, and drops it "
        "once the site has answered. "
    )


def drop(archive: Path, env: dict[str, str], database: str, report: Callable[[str], None]) -> None:
    """Drop the throwaway database, whether or not the verification got as far as using it."""
    try:
        run(archive, env, "shell", "-c", throwaway.DROP_SCRIPT)
    except BuildError as exc:
        report(
            f"Note: the verification's throwaway database {database!r} could not be dropped; "
            f"drop it by hand. {exc}"
        )


def restore(kept: Path | None, scratch: Path) -> list[Path]:
    """Put the databases the previous verification migrated in place; the files put."""
    if kept is None or not kept.is_dir():
        return []
    try:
        shutil.copytree(kept, scratch, dirs_exist_ok=True)
    except (OSError, shutil.Error):
        return []  # a new database, as for a first build
    return [scratch / path.relative_to(kept) for path in kept.rglob("*") if path.is_file()]


def _forget(files: list[Path]) -> None:
    for path in files:
        path.unlink(missing_ok=True)


def keep(files: list[Path], scratch: Path, kept: Path) -> None:
    """Keep the migrated databases for the next build's verification, replacing the last."""
    try:
        kept.parent.mkdir(parents=True, exist_ok=True)
        temporary = Path(tempfile.mkdtemp(prefix=f".{kept.name}.", dir=kept.parent))
    except OSError:
        return  # a cache that cannot be written: the next build migrates from scratch
    try:
        for path in files:
            for sibling in (path, path.with_name(path.name + "-wal")):
                if sibling.is_file():
                    target = temporary / sibling.relative_to(scratch)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(sibling, target)
        old = kept.with_name(f".{kept.name}.old-{os.getpid()}")
        if kept.exists():
            os.rename(kept, old)
        os.rename(temporary, kept)
        shutil.rmtree(old, ignore_errors=True)
    except OSError:
        shutil.rmtree(temporary, ignore_errors=True)


def _migrate_if_temporary(archive: Path, env: dict[str, str], scratch: Path) -> Prepared:
    """The temporary SQLite databases, migrated (none when a database is not one), the
    aliases of the throwaway databases created on a server, the admin's login page."""
    # One start of the archive for all: where the databases are, and the migration.
    process = start(
        archive, {**env, SCRATCH_VARIABLE: str(scratch)}, "shell", "--no-imports", "-c",
        MIGRATE_SCRIPT,
    )  # fmt: skip
    printed = json.loads(finish(process, "migrate --noinput").strip().splitlines()[-1])
    files = [Path(name).resolve() for name in printed["files"]] if printed["migrated"] else []
    inside = scratch.resolve()
    migrated = [inside / path.relative_to(inside) for path in files]
    return Prepared(migrated, list(printed["created"]), printed.get("admin"))
