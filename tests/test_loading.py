"""What serve loads in the master before its workers fork (runtime/loading.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# A site with the admin, its URLconf and template engine as startproject makes them;
# prints which of what a first request loads is loaded once the master has loaded it.
SCRIPT = """
import json, sys
from django.conf import settings
settings.configure(
    SECRET_KEY="tests-only",
    INSTALLED_APPS=["django.contrib.admin", "django.contrib.auth",
                    "django.contrib.contenttypes", "django.contrib.messages",
                    "django.contrib.sessions"],
    ROOT_URLCONF={urlconf!r},
    TEMPLATES=[{{"BACKEND": "django.template.backends.django.DjangoTemplates",
                "APP_DIRS": True, "OPTIONS": {{"context_processors": []}}}}],
    DATABASES={{"default": {{"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}}},
    LANGUAGE_CODE="de",
)
import django
django.setup()
from django.utils.translation import trans_real
watched = ["tests.i18n_urls", "django.contrib.admin.templatetags.admin_list"]
before = [name in sys.modules for name in watched]
from django_zipapp.runtime.loading import load_what_first_requests_load
load_what_first_requests_load()
from django.db import connections
print(json.dumps({{
    "before": before,
    "after": [name in sys.modules for name in watched],
    "german": "de" in trans_real._translations,
    "connected": connections["default"].connection is not None,
}}))
"""


def loaded(urlconf: str) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", SCRIPT.format(urlconf=urlconf)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


def test_the_urlconf_template_libraries_and_catalogues_are_loaded_before_the_workers_fork() -> None:
    assert loaded("tests.i18n_urls") == {
        "before": [False, False],
        "after": [True, True],
        "german": True,
        "connected": False,
    }


@pytest.mark.parametrize("urlconf", ["no_such_urlconf", "tests.broken_urlconf"])
def test_a_urlconf_that_fails_is_left_to_the_first_request(urlconf: str) -> None:
    # serve still starts; the request that needs it answers 500 and logs why.
    got = loaded(urlconf)
    assert got["after"] == [False, True]
