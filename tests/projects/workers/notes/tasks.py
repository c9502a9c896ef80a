"""Tasks that write a note: one for Celery, one for django-tasks' database backend."""

import os
import time
from pathlib import Path

from celery import shared_task
from django_tasks import task
from notes.models import Note


def write_note(title: str, seconds: float) -> None:
    # A file marks the start, so that a test can stop the worker in the middle of it.
    Path(os.environ["STATE_DIRECTORY"], f"started-{title}").touch()
    time.sleep(seconds)
    Note.objects.create(title=title, body=f"written by pid {os.getpid()}")


@shared_task
def add_note(title: str, seconds: float = 0) -> None:
    write_note(title, seconds)


@task()
def add_note_later(title: str, seconds: float = 0) -> None:
    write_note(title, seconds)
