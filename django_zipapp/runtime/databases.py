"""The archive's last guard for data: no SQLite database inside its extraction folder."""

from __future__ import annotations

from pathlib import Path

from .config import ConfigError


def refuse_databases_inside(extraction_root: Path) -> None:
    """Raise ConfigError when a SQLite database would live where deploys delete files.

    buildpyz's checks catch a database file inside the project; this catches what only
    the host's configuration decides (a path built from BASE_DIR, a relative SHIV_ROOT).
    """
    from django.conf import settings

    root = extraction_root.resolve()
    for alias, database in settings.DATABASES.items():
        name = database.get("NAME")
        if "sqlite" not in database.get("ENGINE", "") or not _is_file_path(name):
            continue
        if Path(str(name)).resolve().is_relative_to(root):
            setting = f"DATABASES[{alias!r}]['NAME']"
            raise ConfigError(
                f"{setting} is {str(name)!r}, inside {str(root)!r}, the folder this archive "
                "unpacks itself into, which a new deploy or a prune of old builds removes: "
                f"the data would be lost. Set {setting} in the settings to a path the server "
                "keeps (systemd's STATE_DIRECTORY, for example), outside the archive's "
                "extraction folder."
            )


def _is_file_path(name: object) -> bool:
    if not isinstance(name, (str, Path)):
        return False
    text = str(name)
    # In-memory databases and URIs ("file:...?mode=memory") are not files in that folder.
    return bool(text) and text != ":memory:" and not text.startswith("file:")
