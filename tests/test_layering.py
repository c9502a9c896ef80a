"""Build time and run time never mix: the archive carries neither shiv nor pip, and what
starts it needs nothing but the standard library."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import django_zipapp.boot
from django_zipapp.boot.names import BOOT_MODULE
from django_zipapp.builder.shiv import _boot_package

BOOT_MODULES = sorted(Path(django_zipapp.boot.__file__).parent.glob("*.py"))


def test_runtime_imports_nothing_of_the_builder() -> None:
    code = (
        "import json, sys\n"
        "import django_zipapp.boot, django_zipapp.runtime, django_zipapp.runtime.serve\n"
        "import django_zipapp.runtime.static, django_zipapp.runtime.asgi, django_zipapp.config\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    modules = json.loads(result.stdout)
    assert [m for m in modules if m.split(".")[0] in ("shiv", "pip", "click")] == []
    assert [m for m in modules if m.startswith("django_zipapp.builder")] == []
    assert "django_zipapp.runtime.serve" in modules


def test_boot_imports_with_nothing_but_the_standard_library(tmp_path: Path) -> None:
    # The package as the archive carries it, imported with site-packages hidden: until
    # the archive has unpacked itself, nothing else is importable where it runs.
    for name, data in _boot_package():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(data)
    modules = [f"{BOOT_MODULE}.{path.stem}" for path in BOOT_MODULES if path.stem != "__init__"]
    code = (
        "import json, sys\n"
        f"sys.path.insert(0, {str(tmp_path)!r})\n"
        "before = set(sys.modules)\n"
        f"import {', '.join(modules)}\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    added = json.loads(result.stdout)
    outside = [name for name in added if name.split(".")[0] not in sys.stdlib_module_names]
    assert sorted(outside) == sorted([BOOT_MODULE, *modules])  # all of them, nothing else


@pytest.mark.parametrize("path", BOOT_MODULES, ids=lambda path: path.name)
def test_no_boot_module_imports_more_even_inside_a_function(path: Path) -> None:
    # An import inside a function runs only when it is called: read them all.
    imported: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            imported += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            imported.append(node.module or "")
        elif isinstance(node, ast.ImportFrom) and node.level > 1:
            imported.append("." * node.level + (node.module or ""))  # out of the package
    # shiv's bootstrap, itself standard library only, stands beside it in every archive.
    allowed = {*sys.stdlib_module_names, "_bootstrap"}
    assert [name for name in imported if name.split(".")[0] not in allowed] == []


def test_the_boot_package_is_found_by_the_name_the_archive_gives_it() -> None:
    from django_zipapp.booted import ARCHIVE_PACKAGE

    assert ARCHIVE_PACKAGE == BOOT_MODULE
