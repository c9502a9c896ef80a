from __future__ import annotations

import gzip
from typing import Any

from django.contrib.staticfiles.storage import ManifestStaticFilesStorage
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
