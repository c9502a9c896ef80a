# Celery's Django guide: the app is loaded with Django, so that @shared_task uses it.
from .celery import app as celery_app

__all__ = ("celery_app",)
