"""A site configured only through environment variables, as many are: DEBUG on and a
placeholder key unless told otherwise, DATABASE_URL through dj-database-url, Redis for
the cache when REDIS_URL is set. Every page needs a login."""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("SECRET_KEY", "django-insecure-development-only")
DEBUG = os.environ.get("DEBUG", "True").lower() in ("1", "true", "yes", "on")
ALLOWED_HOSTS = os.getenv("ALLOWED_HOSTS", "localhost,127.0.0.1").split(",")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_zipapp",
    "pages",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "envsite.urls"
WSGI_APPLICATION = "envsite.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "pages.views.theme",
            ],
        },
    },
]
DATABASES = {"default": dj_database_url.config(default="sqlite:////var/lib/envsite/db.sqlite3")}
if os.environ.get("REDIS_URL"):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ["REDIS_URL"],
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
LOGIN_URL = "login"

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
MEDIA_URL = "media/"
MEDIA_ROOT = os.environ.get("MEDIA_ROOT", "/var/lib/envsite/media")

# As cookiecutter-django's production settings log: every logger that exists when
# Django configures logging is switched off, gunicorn's among them when it loads the site.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": True,
    "formatters": {"verbose": {"format": "%(levelname)s %(asctime)s %(module)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "verbose"}},
    "root": {"level": "INFO", "handlers": ["console"]},
    "loggers": {"django.db.backends": {"level": "ERROR", "propagate": False}},
}

# The stylesheet every page links, by its name among the static files.
SITE_STYLESHEET = os.environ.get("SITE_STYLESHEET", "site/site.css")
# The single sign-on provider the login page talks to, when there is one.
LOGIN_PROVIDER = os.environ.get("LOGIN_PROVIDER", "")

# Mail goes out through a relay when one is configured, which then needs its password.
if os.environ.get("EMAIL_HOST"):
    EMAIL_HOST = os.environ["EMAIL_HOST"]
    EMAIL_HOST_PASSWORD = os.environ["EMAIL_HOST_PASSWORD"]
# How long a database connection is kept, as django-environ would refuse a bad value.
try:
    DATABASES["default"]["CONN_MAX_AGE"] = int(os.environ.get("CONN_MAX_AGE", "0"))
except ValueError:
    raise ImproperlyConfigured("CONN_MAX_AGE must be a whole number of seconds") from None
# Where the admin is, kept from guessers as cookiecutter-django's DJANGO_ADMIN_URL keeps it.
ADMIN_URL = os.environ.get("ADMIN_URL", "admin/")
