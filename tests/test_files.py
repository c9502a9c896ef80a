from __future__ import annotations

import sqlite3
from pathlib import Path

from django_zipapp.builder.files import copy_self, copy_tree


def make_tree(root: Path) -> None:
    files = {
        "app/__init__.py": "",
        "app/models.py": "x = 1\n",
        "app/templates/app/page.html": "<p>hi</p>",
        "app/locale/fr/LC_MESSAGES/django.mo": "mo",
        "app/__pycache__/models.cpython-311.pyc": "pyc",
        "app/models.pyc": "pyc",
        "app/.env": "SECRET_KEY=leak",
        "app/.env.production": "SECRET_KEY=leak",
        "app/.git/config": "[core]",
        "app/venv/pyvenv.cfg": "home = /usr",
        "app/venv/lib/site.py": "",
        "app/customenv/pyvenv.cfg": "home = /usr",
        "app/customenv/lib/x.py": "",
        "app/node_modules/pkg/index.js": "",
        "app/old.pyz": "PK",
        "app/uploads/photo.jpg": "jpg",
    }
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    for name in ("app/db.sqlite3", "app/data/search-index"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(root / name)
        connection.execute("create table t (x)")
        connection.commit()
        connection.close()


def copied(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_private_and_generated_files_stay_out(tmp_path: Path) -> None:
    make_tree(tmp_path / "src")
    count = copy_tree(
        tmp_path / "src/app", tmp_path / "out/app", skip=[tmp_path / "src/app/uploads"]
    )
    assert copied(tmp_path / "out") == [
        "app/__init__.py",
        "app/locale/fr/LC_MESSAGES/django.mo",
        "app/models.py",
        "app/templates/app/page.html",
    ]
    assert count == 4


def test_modes_are_normalised(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src/run.sh").write_text("#!/bin/sh\n")
    (tmp_path / "src/run.sh").chmod(0o775)
    (tmp_path / "src/data.txt").write_text("x")
    (tmp_path / "src/data.txt").chmod(0o600)
    copy_tree(tmp_path / "src", tmp_path / "out")
    assert (tmp_path / "out/run.sh").stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "out/data.txt").stat().st_mode & 0o777 == 0o644


def test_copy_self_installs_the_running_package(tmp_path: Path) -> None:
    import django_zipapp

    assert copy_self(tmp_path) is None
    assert (tmp_path / "django_zipapp/boot/entry.py").is_file()
    assert (tmp_path / "django_zipapp/runtime/serve.py").is_file()
    assert not list(tmp_path.rglob("__pycache__"))
    metadata = tmp_path / f"django_zipapp-{django_zipapp.__version__}.dist-info/METADATA"
    assert "Name: django-zipapp" in metadata.read_text()


def test_copy_self_keeps_what_pip_installed(tmp_path: Path) -> None:
    (tmp_path / "django_zipapp-9.9.dist-info").mkdir()
    assert copy_self(tmp_path) == "9.9"
    assert not (tmp_path / "django_zipapp").exists()
