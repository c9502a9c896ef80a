"""An archive with the start-up code of another git revision in place of its own.

What ``--compare-boot REV`` measures against: the same archive, launcher line, members
and site-packages, with only the boot package (``_django_zipapp_boot``) taken from
``django_zipapp/boot.py`` or the ``django_zipapp/boot/`` package at REV. Used by
warm.py (warm starts and system calls) and deploys.py (cold starts after a removal).
"""

from __future__ import annotations

import importlib.util
import marshal
import subprocess
import zipfile
from pathlib import Path

BOOT_MODULE = "_django_zipapp_boot"


def with_boot_of(archive: Path, revision: str, output: Path) -> Path:
    """A copy of the archive whose start-up code is the one at git revision ``revision``.

    Everything else (the launcher line, the members, site-packages) is the archive's own:
    what differs is the start-up code alone. Its bytecode is compiled for this Python,
    as the builder compiles the current one.
    """
    repo = Path(__file__).resolve().parent.parent
    sources = boot_sources(repo, revision)
    data = archive.read_bytes()
    with zipfile.ZipFile(archive) as original:
        start = min(info.header_offset for info in original.infolist())
        output.write_bytes(data[:start])  # the launcher line, before the zip
        with zipfile.ZipFile(output, "a", zipfile.ZIP_DEFLATED) as copy:
            for info in original.infolist():
                if not info.filename.startswith(BOOT_MODULE):
                    copy.writestr(info, original.read(info))
            for name, source in sources.items():
                copy.writestr(name, source)
                code = compile(source, name, "exec", dont_inherit=True)
                flags = 0b01  # hash-based, unchecked (PEP 552), as the builder writes them
                copy.writestr(
                    name + "c",
                    importlib.util.MAGIC_NUMBER
                    + flags.to_bytes(4, "little")
                    + importlib.util.source_hash(source)
                    + marshal.dumps(code),
                )
    output.chmod(0o755)
    return output


def boot_sources(repo: Path, revision: str) -> dict[str, bytes]:
    """The start-up code at a revision, by its name in an archive."""

    def git(*args: str) -> bytes:
        command = ["git", "-C", str(repo), *args]
        return subprocess.run(command, capture_output=True, check=True).stdout

    listed = git("ls-tree", "--name-only", revision, "django_zipapp/").decode().split()
    if "django_zipapp/boot.py" in listed:
        return {f"{BOOT_MODULE}.py": git("show", f"{revision}:django_zipapp/boot.py")}
    names = git("ls-tree", "--name-only", revision, "django_zipapp/boot/").decode().split()
    return {
        f"{BOOT_MODULE}/{name.rpartition('/')[2]}": git("show", f"{revision}:{name}")
        for name in names
        if name.endswith(".py")
    }
