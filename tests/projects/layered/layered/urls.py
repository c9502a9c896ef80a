from django.urls import path
from pages import views

urlpatterns = [
    path("", views.home),
    path("changelog/", views.changelog),
    path("facts/", views.facts),
    path("greeting/", views.greeting),
]
