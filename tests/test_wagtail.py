"""A Wagtail site as `wagtail start` makes it, from PyPI: built, verified, served.

Its own virtualenv, as a user's: Wagtail and django-zipapp (this checkout) installed
with pip. The production settings get what any host needs (a database and media
outside the project, the key from the environment) and django_zipapp.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .archives import DEPENDENCY_CACHE, Built, get, running_server, site_env
from .sbom import check_sbom

pytestmark = [pytest.mark.e2e, pytest.mark.heavy]

REPO = Path(__file__).resolve().parent.parent
PRODUCTION = """
import os

STATE = os.environ.get("STATE_DIRECTORY", "/var/lib/mysite")
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3",
                         "NAME": os.path.join(STATE, "db.sqlite3")}}
MEDIA_ROOT = os.path.join(STATE, "media")
SECRET_KEY = os.environ.get("SECRET_KEY", "")
ALLOWED_HOSTS = ["localhost", "127.0.0.1"]
INSTALLED_APPS = [*INSTALLED_APPS, "django_zipapp"]
ZIPAPP_VERIFY_URLS = ["/", "/admin/login/"]
"""
# Where the build transcript goes, for the record (the bench and the docs quote it).
TRANSCRIPT = os.environ.get("DJANGO_ZIPAPP_TEST_WAGTAIL_TRANSCRIPT")


def sh(*command: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [str(word) for word in command], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=1800,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def wagtail_site(tmp_path_factory: pytest.TempPathFactory) -> Built:
    work = tmp_path_factory.mktemp("wagtail")
    sh(sys.executable, "-m", "venv", work / "venv", cwd=work)
    python = work / "venv" / "bin" / "python"
    sh(python, "-m", "pip", "install", "--quiet", "wagtail", REPO, cwd=work)
    sh(work / "venv" / "bin" / "wagtail", "start", "mysite", cwd=work)
    project = work / "mysite"
    # What a user does: the versions installed, pinned (the template names a Django that
    # may need a newer Python than this one); the build adds django-zipapp itself.
    frozen = sh(python, "-m", "pip", "freeze", "--exclude", "django-zipapp", cwd=work)
    (project / "requirements.txt").write_text(frozen)
    with (project / "mysite" / "settings" / "production.py").open("a") as settings:
        settings.write(PRODUCTION)
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    command: list[str | Path] = [python, "manage.py", "buildpyz", "--cache-dir", DEPENDENCY_CACHE]
    command += ["--settings", "mysite.settings.production", "-o", work / "site.pyz"]
    output = sh(*command, cwd=project, env={**env, "SECRET_KEY": ""})
    if TRANSCRIPT:
        Path(TRANSCRIPT).write_text(output)
    (work / "state").mkdir()
    return Built(work / "site.pyz", output, work)


def test_wagtail_site_is_built_and_verified(wagtail_site: Built) -> None:
    lines = wagtail_site.build_output.splitlines()
    assert "- Verifying: check --deploy, migrate, serve, then GET /, /admin/login/" in lines
    assert lines[-1].startswith(f"Built {wagtail_site.archive} (")


def test_wagtail_home_and_admin_login_answer(wagtail_site: Built, tmp_path: Path) -> None:
    environment = site_env(wagtail_site)
    python = str(wagtail_site.work / "venv" / "bin" / "python")
    migrate = subprocess.run(
        [python, str(wagtail_site.archive), "migrate", "--noinput"],
        env=environment, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert migrate.returncode == 0, migrate.stderr
    with running_server(wagtail_site.archive, environment, tmp_path / "serve.log") as server:
        status, _, body = get(server.base + "/", {"Host": "localhost"})
        assert status == 200
        assert b"Welcome to your new Wagtail site!" in body
        assert get(server.base + "/admin/login/", {"Host": "localhost"})[0] == 200


def test_wagtail_sbom_lists_every_distribution_packed(wagtail_site: Built, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    python = str(wagtail_site.work / "venv" / "bin" / "python")
    result = subprocess.run(
        [python, str(wagtail_site.archive), "info", "--sbom"],
        env=site_env(wagtail_site, SHIV_ROOT=str(cache)), capture_output=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    count = check_sbom(wagtail_site.archive, result.stdout, "mysite")
    print(f"SBOM of the Wagtail site: {count} components")
    assert count > 40
    assert not cache.exists() or list(cache.iterdir()) == []  # nothing unpacked
