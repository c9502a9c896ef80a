from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def theme(request: HttpRequest) -> dict[str, str]:
    return {"stylesheet": settings.SITE_STYLESHEET}


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "pages/home.html")


def login(request: HttpRequest) -> HttpResponse:
    if settings.LOGIN_PROVIDER:
        # A provider this site has no client for: the page fails, as a misconfigured
        # single sign-on does.
        raise RuntimeError(f"no client for the login provider {settings.LOGIN_PROVIDER!r}")
    # The cache (Redis when REDIS_URL is set) counts the login page's visits.
    cache.add("login-visits", 0)
    visits = cache.incr("login-visits")
    return LoginView.as_view(extra_context={"visits": visits})(request)
