"""How a word is written into a systemd unit so that systemd reads it back whole.

Used for command lines (``ExecStart=``, ``ExecReload=``) and ``Environment=`` assignments.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Words made only of these need no quotes: systemd splits them as they stand.
PLAIN_WORD = re.compile(r"[A-Za-z0-9%/._:@+=,-]+")


def quote(word: str) -> str:
    """One word as systemd reads it back whole: quoted only when it needs to be."""
    # systemd splits a command line like a shell does, with C-style escapes inside quotes.
    if PLAIN_WORD.fullmatch(word):
        return word
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def command_line(words: Iterable[str]) -> str:
    """The words as one command line of a unit, each read back as it was given."""
    return " ".join(quote(word) for word in words)
