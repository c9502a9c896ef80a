"""String literals of the project's files: where a SECRET_KEY is written down.

W002 names the file that writes the build's key; the build records a digest of every
literal shaped like a key, so that ``serve`` refuses a key anyone with the archive (or
the project's public repository) can read. Build time only: the archive runs none of it.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from pathlib import Path

from .runtime.safety import key_digest, secret_key_is_insecure

# Beyond this a literal is data (an embedded file), not a key.
LONGEST_KEY = 4096
# Files other than Python modules where a key is written as text: configuration samples.
TEXT_SUFFIXES = {".yaml", ".yml", ".toml", ".json", ".ini", ".cfg", ".conf", ".txt", ".sample"}
# An unquoted value after `NAME=` or `name:` at the start of a line (dotenv, YAML, INI);
# a "#" in it is part of it (keys have them), a comment starts after a space.
# Tried only where a line starts, each attempt bounded: linear time on any line.
LINE_VALUE = re.compile(r"^[ \t]*(?:export[ \t]+)?[\w.-]+[ \t]*[=:][ \t]*([^\s\"']{50,4096})", re.M)


def string_literals(path: Path) -> list[ast.Constant]:
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (OSError, SyntaxError, ValueError):
        return []
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]


def binds_secret_key(path: Path, value: str) -> bool:
    """Whether a statement of the module that holds the literal value names SECRET_KEY:
    `SECRET_KEY = "..."`, `env("SECRET_KEY", default="...")`, a goodconf field
    `SECRET_KEY: str = "..."`. A "---" in a model's choices is not the key."""
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (OSError, SyntaxError, ValueError):
        return False
    for statement in ast.walk(tree):
        if not isinstance(statement, ast.stmt) or hasattr(statement, "body"):
            continue  # compound statements: their simple statements are walked too
        nodes = list(ast.walk(statement))
        if any(_is_literal(node, value) for node in nodes) and any(map(_names_key, nodes)):
            return True
    return False


def _is_literal(node: ast.AST, value: str) -> bool:
    return isinstance(node, ast.Constant) and node.value == value


def _names_key(node: ast.AST) -> bool:
    if isinstance(node, ast.Name):
        name = node.id
    elif isinstance(node, ast.Attribute):
        name = node.attr
    elif isinstance(node, ast.keyword):
        name = node.arg or ""
    elif isinstance(node, ast.Constant) and isinstance(node.value, str):
        name = node.value
    else:
        return False
    return "SECRET_KEY" in name.upper()


def looks_like_a_key(value: str) -> bool:
    """A value serve would otherwise accept as a key; anything else it refuses anyway."""
    return (
        len(value) <= LONGEST_KEY
        and not any(character.isspace() for character in value)
        and not secret_key_is_insecure(value)
    )


def published_keys(files: Iterable[tuple[str, Path]]) -> dict[str, str]:
    """The digest of each key-shaped literal of these files, with the first file's name."""
    found: dict[str, str] = {}
    for name, path in files:
        for value in _key_candidates(path):
            found.setdefault(key_digest(value), name)
    return found


# A quoted string that could be a key. A key has no quote, backslash or space, so its
# literal in Python source is the value itself: read without parsing the module. An
# attempt starts only at a quote and ends at the next one: linear time (Django's own
# 4,600 files, 900 of them modules, in about 0.1 s).
QUOTED_VALUE = re.compile(r"""["']([^\s"'\\]{50,4096})["']""")


def _key_candidates(path: Path) -> set[str]:
    if path.suffix == ".py":
        patterns = [QUOTED_VALUE]
    elif path.suffix in TEXT_SUFFIXES or path.name.endswith(".example"):
        patterns = [QUOTED_VALUE, LINE_VALUE]
    else:
        return set()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return set()
    values = {match[1] for pattern in patterns for match in pattern.finditer(text)}
    return {value for value in values if looks_like_a_key(value)}
