"""What serve does around loading the site's application, under WSGI and ASGI alike."""

from __future__ import annotations

import gc
from contextlib import suppress
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


def load_what_first_requests_load() -> None:
    """Load, once in the master, what each worker would load at its first request.

    Django defers work to the first request that needs it: importing the URLconf, its
    includes and every view they name, and compiling their patterns; building the
    template engines (which imports every installed app's template tag libraries);
    reading LANGUAGE_CODE's translation catalogues. Done here, before the workers
    fork, every worker starts with them loaded (in memory it shares with the master),
    and its first request costs little more than its later ones. None of it touches the
    database (the caller closes any connection all the same). A URLconf or template
    setting that fails is left for the request that needs it, which reports it as
    Django always has.
    """
    from django.conf import settings
    from django.template import engines
    from django.urls import get_resolver
    from django.utils import translation

    # A broken URLconf or TEMPLATES setting: the first request that needs it answers 500
    # and logs why.
    with suppress(Exception):
        # Imports the URLconf and compiles every pattern, for resolving and reversing.
        get_resolver().reverse_dict  # noqa: B018
    with suppress(Exception):
        engines.all()
    with suppress(Exception):  # no catalogue of LANGUAGE_CODE: Django's OSError, the same
        if settings.USE_I18N:
            with translation.override(settings.LANGUAGE_CODE):
                translation.gettext("")
