"""WSGI entry point, for a server other than the archive's own `serve`."""

import os

from django.core.wsgi import get_wsgi_application

from example.conf import config

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example.settings")
# Reads EXAMPLE_CONFIG and the environment (the archive points EXAMPLE_CONFIG at -C FILE).
config.load()
application = get_wsgi_application()
