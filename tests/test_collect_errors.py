"""What a failing collectstatic tells the developer to do."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import override_settings

from django_zipapp.builder import BuildError
from django_zipapp.builder.static import collect_static


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
