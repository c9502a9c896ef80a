"""Files the build writes whole or not at all: the old file stays until the new one is done."""

from __future__ import annotations

from pathlib import Path

import pytest

from django_zipapp.builder.errors import BuildError
from django_zipapp.builder.replacing import replacing


def test_the_written_file_replaces_the_old_one_and_nothing_else_stays(tmp_path: Path) -> None:
    path = tmp_path / "site.pyz"
    path.write_bytes(b"old")
    with replacing(path, "The archive") as partial:
        partial.write_bytes(b"new")
        assert path.read_bytes() == b"old"
    assert path.read_bytes() == b"new"
    assert [child.name for child in tmp_path.iterdir()] == ["site.pyz"]


def test_a_failed_write_is_one_error_and_leaves_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "site.pyz"
    path.write_bytes(b"old")
    with pytest.raises(BuildError) as raised, replacing(path, "The archive") as partial:
        partial.write_bytes(b"half")
        (tmp_path / "missing" / "file").read_bytes()
    assert str(raised.value) == (
        f"The archive could not be written to {str(path)!r}: [Errno 2] No such file or "
        f"directory: {str(tmp_path / 'missing' / 'file')!r}"
    )
    assert path.read_bytes() == b"old"
    assert [child.name for child in tmp_path.iterdir()] == ["site.pyz"]
