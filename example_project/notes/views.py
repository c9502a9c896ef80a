from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from notes.models import Note


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "notes/home.html", {"notes": Note.objects.all()[:20]})
