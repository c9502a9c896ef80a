from django.conf import settings
from django.contrib import admin
from django.urls import path
from pages import views

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/login/", views.login, name="login"),
    path(settings.ADMIN_URL, admin.site.urls),
]
