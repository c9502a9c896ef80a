"""A URLconf that fails when imported, as one with a typo in a view's name does."""

from __future__ import annotations

raise ImportError("cannot import name 'hme' from 'notes.views'")
