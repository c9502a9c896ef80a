"""Views that hand a note to a worker instead of writing it in the request."""

from django.http import HttpRequest, HttpResponse
from notes.tasks import add_note, add_note_later


def enqueue_celery(request: HttpRequest) -> HttpResponse:
    result = add_note.delay(request.GET["title"], float(request.GET.get("seconds", 0)))
    return HttpResponse(result.id, status=202)


def enqueue_database(request: HttpRequest) -> HttpResponse:
    result = add_note_later.enqueue(request.GET["title"], float(request.GET.get("seconds", 0)))
    return HttpResponse(str(result.id), status=202)
