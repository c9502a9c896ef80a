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
# A quoted value, or what follows `NAME=` / `name:`. No nested repetition: linear time.
TEXT_VALUE = re.compile(r"""["']([^\s"']{50,4096})["']|[=:][ \t]*([^\s"'#,]{50,4096})""")


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


# A run of 50 characters a key could be made of: files without one are not parsed.
KEY_RUN = re.compile(rb"[^\s\"']{50}")


def _key_candidates(path: Path) -> set[str]:
    try:
        if KEY_RUN.search(path.read_bytes()) is None:
            return set()
    except OSError:
        return set()
    if path.suffix == ".py":
        values = {str(node.value) for node in string_literals(path)}
    elif path.suffix in TEXT_SUFFIXES or path.name.endswith(".example"):
        values = _text_values(path)
    else:
        return set()
    return {value for value in values if looks_like_a_key(value)}


def _text_values(path: Path) -> set[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return set()
    return {match[1] or match[2] for match in TEXT_VALUE.finditer(text)}
