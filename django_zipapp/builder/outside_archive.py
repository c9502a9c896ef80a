"""Imported first by django_zipapp.builder: inside an archive, a clear refusal instead of
an ImportError for shiv, pip or cyclonedx-python-lib (see runtime/no_builder.py)."""

from __future__ import annotations

from ..runtime.no_builder import refuse_inside_archive

refuse_inside_archive("django_zipapp.builder")
