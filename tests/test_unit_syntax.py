"""Words written into a systemd unit read back whole: quoted only where they must be."""

from __future__ import annotations

import shlex

from django_zipapp.runtime.unit_syntax import command_line, quote

# What an archive's units carry: paths, systemd specifiers, and declared words with
# spaces, quotes and backslashes.
WORDS = ["/srv/site.pyz", "-C", "%d/config.toml", "a b", 'say "hi"', "back\\slash", ""]


def test_plain_words_stay_bare() -> None:
    # A bare %d stays a specifier that systemd expands; a quoted one would too, but
    # bare words keep the units readable.
    assert [quote(word) for word in WORDS[:3]] == WORDS[:3]


def test_other_words_are_quoted_with_their_quotes_and_backslashes_escaped() -> None:
    assert [quote(word) for word in WORDS[3:]] == [
        '"a b"',
        '"say \\"hi\\""',
        '"back\\\\slash"',
        '""',
    ]


def test_a_command_line_splits_back_into_its_words() -> None:
    # systemd splits command lines as a shell does: shlex stands in for it here.
    assert shlex.split(command_line(WORDS)) == WORDS
