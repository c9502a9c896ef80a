"""The key-shaped literals a build records, so that serve refuses a published key."""

from __future__ import annotations

from pathlib import Path

from django_zipapp.literals import published_keys
from django_zipapp.runtime.safety import key_digest

KEY = "k3y-" + "Zq9!x@7#w$2%v^5&" * 4


def test_literals_of_modules_and_sample_configurations(tmp_path: Path) -> None:
    written = {
        "settings.py": f'SECRET_KEY = os.environ.get("SECRET_KEY", {KEY!r})\n'
        f'"""A docstring of more than fifty characters, with spaces in it."""\n',
        "config.sample.yaml": f"SECRET_KEY: {KEY}x\nDEBUG: false\n",
        "env.example": f"export SECRET_KEY={KEY}y\n",
        "data.json": f'{{"key": "{KEY}z"}}\n',
        "short.py": 'KEY = "not-fifty-characters-long"\n',
        "insecure.py": f'KEY = "django-insecure-{KEY}"\n',
        "script.js": f'var key = "{KEY}w";\n',
    }
    for name, text in written.items():
        (tmp_path / name).write_text(text)
    found = published_keys((name, tmp_path / name) for name in sorted(written))
    assert found == {
        key_digest(KEY): "settings.py",
        key_digest(KEY + "x"): "config.sample.yaml",
        key_digest(KEY + "y"): "env.example",
        key_digest(KEY + "z"): "data.json",
    }
