"""A GraphQL API with strawberry-graphql's lazy types, built and served from an archive.

strawberry resolves a lazy type by comparing its module with `__main__.__file__` (os.stat
on both): inside the zip that path is no file, and the site died with NotADirectoryError
in `migrate` and `serve`.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import django
import pytest

from tests.archives import (
    DEPENDENCY_CACHE,
    Built,
    build_in,
    copy_example,
    run_archive,
    running_server,
    site_env,
)

pytestmark = [pytest.mark.e2e, pytest.mark.heavy]

REQUIREMENT = "strawberry-graphql>=0.240\n"
SCHEMA = """\
from typing import Annotated

import strawberry


@strawberry.type
class Query:
    @strawberry.field
    def greeting(self) -> Annotated["Greeting", strawberry.lazy("notes.greeting")]:
        from notes.greeting import Greeting

        return Greeting(text="hello from the archive")


schema = strawberry.Schema(query=Query)
"""
GREETING = """\
import strawberry


@strawberry.type
class Greeting:
    text: str
"""
URLS = """
from django.views.decorators.csrf import csrf_exempt
from strawberry.django.views import GraphQLView

from notes.schema import schema

urlpatterns.append(path("graphql/", csrf_exempt(GraphQLView.as_view(schema=schema))))
"""


def strawberry_for_building(work: Path) -> Path:
    """strawberry-graphql installed once for the build (it imports the URLconf)."""
    key = hashlib.sha256(f"{sys.version}\n{REQUIREMENT}".encode()).hexdigest()[:12]
    target = DEPENDENCY_CACHE / f"strawberry-{key}"
    if not (target / ".complete").exists():
        shutil.rmtree(target, ignore_errors=True)
        constraints = work / "constraints-strawberry.txt"
        constraints.write_text(f"Django=={django.get_version()}\n")
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(target),
             "-c", str(constraints), REQUIREMENT.strip()],
            check=True,
            timeout=600,
        )  # fmt: skip
        (target / ".complete").touch()
    return target


def test_lazy_types_resolve_and_the_endpoint_answers(tmp_path: Path) -> None:
    project = copy_example(tmp_path / "project")
    (project / "notes" / "schema.py").write_text(SCHEMA)
    (project / "notes" / "greeting.py").write_text(GREETING)
    urls = project / "example" / "urls.py"
    urls.write_text(urls.read_text() + URLS)
    requirements = project / "requirements.txt"
    requirements.write_text(requirements.read_text() + REQUIREMENT)
    building = {"PYTHONPATH": str(strawberry_for_building(tmp_path))}
    build = build_in(project, "-o", str(tmp_path / "site.pyz"), env=building)
    assert build.returncode == 0, build.stdout + build.stderr
    built = Built(tmp_path / "site.pyz", build.stdout, tmp_path)

    # `python3 site.pyz` runs the zip's __main__.py, whose __file__ is inside the zip.
    python = (sys.executable,)
    migrate = run_archive(built, "migrate", "--noinput", wrapper=python)
    assert migrate.returncode == 0, migrate.stderr
    assert "Traceback" not in migrate.stderr

    log = tmp_path / "serve.log"
    with running_server(built.archive, site_env(built), log, 1, wrapper=python) as server:
        request = urllib.request.Request(
            server.base + "/graphql/",
            data=json.dumps({"query": "{ greeting { text } }"}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            status, body = response.status, json.loads(response.read())
    assert status == 200
    assert body == {"data": {"greeting": {"text": "hello from the archive"}}}
