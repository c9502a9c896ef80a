from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import path


def home(request: HttpRequest) -> HttpResponse:
    from django.conf import settings

    return HttpResponse(f"Configuration {settings.CONFIGURATION}\n", content_type="text/plain")


urlpatterns = [
    path("", home),
    path("admin/", admin.site.urls),
]
