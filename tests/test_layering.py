"""Build time and run time never mix: the archive carries neither shiv nor pip."""

from __future__ import annotations

import json
import subprocess
import sys


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


def test_boot_uses_only_the_standard_library() -> None:
    code = (
        "import json, sys\n"
        "before = set(sys.modules)\n"
        "import django_zipapp.boot\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    added = json.loads(result.stdout)
    allowed = {*sys.stdlib_module_names, "django_zipapp"}
    outside = [name for name in added if name.split(".")[0] not in allowed]
    assert outside == []
    ours = [m for m in added if m.startswith("django_zipapp.")]
    assert ours and all(m.startswith("django_zipapp.boot") for m in ours)
    assert "django_zipapp.runtime" not in added


def test_the_boot_package_is_found_by_the_name_the_archive_gives_it() -> None:
    from django_zipapp.boot import BOOT_MODULE
    from django_zipapp.booted import ARCHIVE_PACKAGE

    assert ARCHIVE_PACKAGE == BOOT_MODULE
