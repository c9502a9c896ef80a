"""Everything that differs between hosts comes from the environment."""

import os
from pathlib import Path

from .base import *  # noqa: F403

DEBUG = False
SECRET_KEY = os.environ.get("SECRET_KEY")
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
STATE_DIR = Path(os.environ.get("STATE_DIRECTORY", "/var/lib/layered"))
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": STATE_DIR / "db.sqlite3"}}
