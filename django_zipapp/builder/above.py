"""The folders where a project's own files are looked for: its folder, then each one
above it up to the repository's root. A common layout keeps requirements.txt,
pyproject.toml or a Pipfile beside a src/ or backend/ folder that holds manage.py."""

from __future__ import annotations

from pathlib import Path


def folders_up_to_repository(root: Path) -> list[Path]:
    """root, then each folder above it up to the one with .git; outside a repository,
    root only."""
    folders = []
    for folder in (root, *root.parents):
        folders.append(folder)
        if (folder / ".git").exists():
            return folders
    return [root]
