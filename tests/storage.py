from __future__ import annotations

import gzip
from typing import Any

from django.conf import settings
from django.contrib.staticfiles.storage import ManifestStaticFilesStorage
from django.core.files.storage import FileSystemStorage
from whitenoise.compress import Compressor
from whitenoise.storage import CompressedStaticFilesStorage


class VersionedStorage(ManifestStaticFilesStorage):
    """A project's own manifest storage, named without "Manifest"."""


class OwnCompressorStorage(CompressedStaticFilesStorage):  # type: ignore[misc]
    """A project's compressing storage that makes its own compressor."""

    def create_compressor(self, **kwargs: Any) -> Compressor:
        return OwnCompressor(**kwargs)


class OwnCompressor(Compressor):  # type: ignore[misc]  # whitenoise ships no types
    @staticmethod
    def compress_gzip(data: bytes) -> bytes:
        return bytes(gzip.compress(data, compresslevel=1, mtime=0))


class ComputedLocationStorage(FileSystemStorage):
    """Where uploaded scripts go, computed from a setting of its own (no OPTIONS)."""

    @property
    def base_location(self) -> str:
        return str(getattr(settings, "SCRIPTS_ROOT"))  # noqa: B009  # a project's own setting
