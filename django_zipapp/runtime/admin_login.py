"""The admin's login page as the running site serves it, which the build's verification
requests: its path comes from the archive's own settings and URLconf (a path read from
the environment, as cookiecutter-django's ``DJANGO_ADMIN_URL``, is the server's), not
from the build machine's."""

from __future__ import annotations


def admin_login_path() -> str | None:
    """The path of the admin's login page; None without the admin in the URLconf."""
    from django.apps import apps
    from django.urls import NoReverseMatch, reverse
    from django.utils import translation

    if not apps.is_installed("django.contrib.admin"):
        return None
    # Under i18n_patterns the path starts with a language: the one the site serves for
    # LANGUAGE_CODE ('en' for 'en-us' when LANGUAGES lists 'en'), as its pages link it.
    with translation.override(_site_language()):
        try:
            return reverse("admin:login")
        except NoReverseMatch:  # installed, but not in the URLconf
            return None


def _site_language() -> str:
    from django.conf import settings
    from django.utils import translation

    try:
        return translation.get_supported_language_variant(settings.LANGUAGE_CODE)
    except LookupError:  # LANGUAGES does not list it: Django serves it as it is
        return str(settings.LANGUAGE_CODE)
