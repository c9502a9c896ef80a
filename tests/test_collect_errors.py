"""What a failing collectstatic tells the developer, and what it does not collect."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from django.test import override_settings

from django_zipapp.builder import BuildError
from django_zipapp.builder.static import collect_static, uncollected_files


def test_a_missing_source_map_points_at_w001s_fix(tmp_path: Path) -> None:
    assets = tmp_path / "assets" / "vendor"
    assets.mkdir(parents=True)
    (assets / "lib.min.js").write_text("var a=1;\n//# sourceMappingURL=lib.min.js.map\n")
    with (
        override_settings(STATICFILES_DIRS=[tmp_path / "assets"]),
        pytest.raises(BuildError) as caught,
    ):
        collect_static(tmp_path / "collected")
    message = str(caught.value)
    assert message.startswith("collectstatic failed: The file 'vendor/lib.min.js.map' could ")
    assert message.endswith(
        "A package's JavaScript or CSS names a source map ('.map') it does not ship, and the "
        "manifest storage rewrites that name: use a subclass of the storage that leaves "
        "sourceMappingURL comments alone, as the checks page of django-zipapp's docs shows "
        "under django_zipapp.W001, and build again."
    )


def files(root: Path, *names: str) -> Path:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(name)
    return root


@pytest.mark.parametrize("in_git", [True, False])
def test_files_kept_in_static_root_that_collectstatic_does_not_produce(
    tmp_path: Path, in_git: bool
) -> None:
    static_root = files(
        tmp_path / "project" / "static",
        "dist/app.js", "dist/app.css", "admin/css/base.css", "staticfiles.json",
    )  # fmt: skip
    collected = files(tmp_path / "collected", "admin/css/base.css")
    if in_git:
        git = ["git", "-C", str(tmp_path / "project")]
        subprocess.run([*git, "init", "-q"], check=True)
        subprocess.run([*git, "add", "static/dist", "static/staticfiles.json"], check=True)
        files(static_root, "old/untracked.js")  # neither committed nor served: no matter
    else:
        # Outside git, what an older collectstatic left there is not named.
        files(static_root, "css/site.3f2a1b9c0d4e.css", "css/site.css.gz")
    assert uncollected_files(static_root, collected) == ["dist/app.css", "dist/app.js"]
