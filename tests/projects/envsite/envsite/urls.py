from django.contrib import admin
from django.urls import path
from pages import views

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/login/", views.login, name="login"),
    path("admin/", admin.site.urls),
]
