"""What serve does around loading the site's application, under WSGI and ASGI alike."""

from __future__ import annotations

import gc
from typing import Any


def drop_middleware_and_say(settings: Any) -> None:
    """Take whitenoise's middleware out, before the handler builds the middleware chain."""
    from .logs import notice
    from .static import drop_whitenoise_middleware

    dropped = drop_whitenoise_middleware(settings)
    if dropped:
        notice(
            f"{dropped} is left out of MIDDLEWARE: serve answers STATIC_URL from the "
            "archive itself, with the project's WHITENOISE_* settings"
        )


def freeze_what_was_loaded() -> None:
    # Everything loaded so far lives as long as the process. Frozen, the garbage collector
    # no longer walks it on every full collection (a pause in the middle of a request),
    # nor writes to its pages, which the workers then keep sharing with the master. The
    # collector was off since the archive booted (see boot/entry.py): no collection has
    # left freed holes in those pages either.
    gc.freeze()
    gc.enable()
