from django.contrib import admin
from django.http import HttpResponse
from django.urls import path

urlpatterns = [
    path("", lambda request: HttpResponse("uploads site")),
    path("admin/", admin.site.urls),
]
