"""The verification names a project file the site opened that the archive lacks."""

from __future__ import annotations

import zipfile
from pathlib import Path

from django_zipapp.builder.left_out import left_out_hint, missing_module_hint

# django-vite's error when its manifest_path, read through BASE_DIR, is not in the archive.
VITE_SAID = (
    "django_vite.core.exceptions.DjangoViteAssetNotFoundError: Cannot find src/main.js for "
    "app=default in Vite manifest at /srv/cache/site.pyz_0a1b/site-packages/frontend/dist/"
    "manifest.json\n"
    '  File "/srv/cache/site.pyz_0a1b/site-packages/mysite/views.py", line 3, in home\n'
    '  File "/srv/cache/site.pyz_0a1b/site-packages/django/core/handlers/base.py", line 1\n'
)


def _project(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "project"
    (root / "frontend" / "dist").mkdir(parents=True)
    (root / "frontend" / "dist" / "manifest.json").write_text("{}")
    (root / "mysite").mkdir()
    (root / "mysite" / "views.py").write_text("")
    archive = tmp_path / "site.pyz"
    with zipfile.ZipFile(archive, "w") as packed:
        packed.writestr("site-packages/mysite/views.py", "")
        packed.writestr("site-packages/django/core/handlers/base.py", "")
    return root, archive


def test_a_file_the_project_has_and_the_archive_lacks_is_named(tmp_path: Path) -> None:
    root, archive = _project(tmp_path)
    assert left_out_hint(VITE_SAID, archive, root) == (
        "The site opened 'frontend/dist/manifest.json', which the project has but the "
        "archive does not (no rule packs it, or git ignores it): ship it with `--include "
        "frontend/dist/manifest.json` (or ZIPAPP_INCLUDE), or have the site read it where "
        "the archive has it (a file collected from STATICFILES_DIRS is under STATIC_ROOT). "
    )


def test_files_the_archive_has_or_the_project_lacks_are_not_named(tmp_path: Path) -> None:
    root, archive = _project(tmp_path)
    (root / "frontend" / "dist" / "manifest.json").unlink()
    assert left_out_hint(VITE_SAID, archive, root) == ""
    assert left_out_hint("no paths here", archive, root) == ""


def test_a_module_installed_here_but_not_in_the_archive_names_its_distribution() -> None:
    # An app installed by hand in the build's virtualenv, missing from requirements.txt.
    said = '  File "<frozen importlib._bootstrap>", line 1324\n'
    said += "ModuleNotFoundError: No module named 'pytest_django.plugin'\n"
    assert missing_module_hint(said) == (
        "The archive has no module 'pytest_django.plugin', which the build's environment "
        "has (from 'pytest-django'): add it to the requirements the build installs, and "
        "build again. "
    )
    # Missing here too: a typo, or a module the project itself should have.
    assert missing_module_hint("ModuleNotFoundError: No module named 'no_such_app'") == ""
    # One of the project's own modules (importable here from the checkout): not a requirement.
    assert missing_module_hint("ModuleNotFoundError: No module named 'tests.settings'") == ""
