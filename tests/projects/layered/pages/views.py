from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import translation


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "pages/home.html")


def changelog(request: HttpRequest) -> HttpResponse:
    # A file next to manage.py, read through BASE_DIR as in the source tree.
    text = (settings.BASE_DIR / "CHANGELOG.txt").read_text()
    return HttpResponse(text, content_type="text/plain")


def facts(request: HttpRequest) -> HttpResponse:
    # A package nothing imports until this view runs.
    from facts.reader import first_fact

    return HttpResponse(first_fact(), content_type="text/plain")


def greeting(request: HttpRequest) -> HttpResponse:
    from greeting import HELLO  # installed from a local path

    with translation.override("de"):
        # Compiled by compilemessages during the build.
        welcome = translation.gettext("Welcome")
    return HttpResponse(f"{HELLO}. {welcome}!", content_type="text/plain")
