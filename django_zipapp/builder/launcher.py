"""The archive's first line: a launcher that refuses a file cut short in transfer.

Python runs a zip file whose end is missing as Python source, and fails with a
SyntaxError before any code of the archive can run. So the first line starts the
interpreter with a few statements that compare the file's size with the size it was
built with, and only then import the boot package from the archive. ``env -S`` splits
the line into arguments; Linux reads at most 255 bytes of it.
"""

from __future__ import annotations

import re
from pathlib import Path

SHEBANG_LIMIT = 255
SIZE_WIDTH = 10
# ``a`` is sys.argv: ["-c", archive, args...] becomes [archive, args...], as for
# ``python site.pyz args...``. No "$" (env -S would expand it), no backslash.
LAUNCHER = (
    "import sys,os;a=sys.argv;del a[0];p=a[0];s={size};n=os.stat(p).st_size;n-s and "
    "sys.exit(f'error: {{p}} is damaged: it has {{n}} bytes, not {{s}}. Download it again.');"
    "sys.path[0]=p;import {boot} as b;b.main()"
)
_SIZE = re.compile(rb";s=([0-9 ]{%d});" % SIZE_WIDTH)


def launcher_line(shebang: str, boot_module: str) -> str | None:
    """The launcher for a `/usr/bin/env pythonX.Y` shebang, or None when it cannot be one."""
    match = re.fullmatch(r"/usr/bin/env (\S+)", shebang)
    if match is None:
        return None  # an interpreter path takes no arguments of its own in a shebang
    code = LAUNCHER.format(size="0".ljust(SIZE_WIDTH), boot=boot_module)
    line = f'#!/usr/bin/env -S {match[1]} -c "{code}"'
    return line if len(line.encode()) < SHEBANG_LIMIT else None


def record_size(archive: Path) -> int:
    """Write the archive's final size into its launcher line, in place; return it."""
    size = archive.stat().st_size
    with archive.open("r+b") as file:
        first = file.read(SHEBANG_LIMIT + 1)
        match = _SIZE.search(first)
        if match is not None:
            file.seek(match.start(1))
            file.write(str(size).ljust(SIZE_WIDTH).encode())
    return size


def expected_size(first_line: bytes) -> int | None:
    match = _SIZE.search(first_line)
    return None if match is None else int(match[1])
