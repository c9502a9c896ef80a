"""A settings package: base, dev and production; manage.py and wsgi.py default to dev."""

from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent.parent

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.staticfiles",
    "django_zipapp",
    "pages",
]
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
ROOT_URLCONF = "layered.urls"
WSGI_APPLICATION = "layered.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # The settings package's own templates too, as django CMS projects keep them.
        "DIRS": [BASE_DIR / "templates", BASE_DIR / "layered" / "templates"],
        "APP_DIRS": True,
    }
]
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
FIXTURE_DIRS = [BASE_DIR / "fixtures"]
LOCALE_PATHS = [BASE_DIR / "locale"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True

# The archive runs with the production settings; buildpyz builds under them.
ZIPAPP_SETTINGS_MODULE = "layered.settings.production"
ZIPAPP_INCLUDE = ["data"]
ZIPAPP_BUILD_COMMANDS = ["compilemessages"]
ZIPAPP_REQUIREMENTS = BASE_DIR / "requirements" / "production.txt"
