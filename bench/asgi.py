"""ASGI rows for bench/run.py: an async page and a static file under wrk, from three
servers in one run.

The example project with an async view and ``ZIPAPP_ASGI = True``, built into one
archive, served by ``serve`` under ASGI (uvicorn's gunicorn worker) and by the same
archive under ``serve --wsgi`` (gthread), against ``uvicorn`` from the virtualenv with
whitenoise's middleware, the usual way to serve a Django site under ASGI from a
virtualenv. Each side has 2 worker processes.

Standard library only, like run.py, which calls `measure` and `rows` with itself as
`bench` (no import of run here: it runs as __main__). Alone, `python bench/asgi.py`
builds the site and measures these rows only.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import load  # bench/load.py, beside this script

ASYNC_PAGE = "/async/"
# The example's home page, rendered by an async view: the same template and query as
# the dynamic rows of run.py, through Django's async ORM.
ASYNC_VIEW = """\
from django.shortcuts import render

from notes.models import Note


async def async_home(request):
    notes = [note async for note in Note.objects.all()[:20]]
    return render(request, "notes/home.html", {"notes": notes})
"""
URLS = """
from notes.async_views import async_home

urlpatterns += [path("async/", async_home)]
"""
SETTINGS = """
ZIPAPP_ASGI = True
"""
# The virtualenv's side: whitenoise's middleware, as its documentation sets it up, and
# Django's ASGI handler for uvicorn.
VENV_SETTINGS = """\
from example.settings import *  # noqa: F403

MIDDLEWARE = [
    MIDDLEWARE[0],  # noqa: F405  SecurityMiddleware first, as whitenoise documents
    "whitenoise.middleware.WhiteNoiseMiddleware",
    *MIDDLEWARE[1:],  # noqa: F405
]
"""
VENV_ASGI = """\
from django.core.asgi import get_asgi_application

from example.conf import config

# As example/wsgi.py: the configuration from the environment, then Django.
config.load()
application = get_asgi_application()
"""


def make_site(ws: Any) -> Path:
    site = ws.root / "asgi-site"
    shutil.copytree(ws.site, site, ignore=shutil.ignore_patterns("staticfiles", "__pycache__"))
    (site / "notes" / "async_views.py").write_text(ASYNC_VIEW)
    for name, addition in (("urls.py", URLS), ("settings.py", SETTINGS)):
        module = site / "example" / name
        module.write_text(module.read_text() + addition)
    (site / "bench_asgi_settings.py").write_text(VENV_SETTINGS)
    (site / "bench_asgi.py").write_text(VENV_ASGI)
    return site


def prepare(ws: Any, bench: ModuleType, site: Path, archive: Path, warm_root: Path) -> None:
    pip = [ws.python, "-m", "pip", "install", "--no-input"]
    bench.run("asgi: install django-zipapp[asgi]", [*pip, f"{bench.REPO}[asgi]"], ws=ws)
    bench.run("asgi: build", [ws.python, "manage.py", "buildpyz", "--no-verify", "-o", archive],
              ws=ws, cwd=site)  # fmt: skip
    env = {**ws.env, "SHIV_ROOT": str(warm_root)}
    bench.run("asgi: archive migrate", [*bench.archive_python(ws), archive, "migrate",
                                        "--noinput"], ws=ws, env=env)  # fmt: skip
    manage = [ws.python, "manage.py"]
    bench.run("asgi: collectstatic", [*manage, "collectstatic", "--noinput"], ws=ws, cwd=site)


def start_servers(
    stack: contextlib.ExitStack, ws: Any, bench: ModuleType, site: Path, archive: Path,
    warm_root: Path,
) -> dict[str, tuple[str, int]]:  # fmt: skip
    servers: dict[str, tuple[str, int]] = {}

    def launch(name: str, args: list[str | Path], bind: str, **env: str) -> None:
        url = f"http://{bind}{ASYNC_PAGE}"
        serving = bench.serving(f"{name} asgi serving", args, ws=ws, cwd=site,
                                env={**ws.server_env, **env}, ready=url)  # fmt: skip
        servers[name] = (f"http://{bind}", stack.enter_context(serving).pid)

    serve = [*bench.archive_python(ws), archive, "serve", "--workers", str(bench.WORKERS),
             "--access-log", ""]  # fmt: skip
    bind = f"127.0.0.1:{bench.free_port()}"
    launch("asgi", [*serve, "--bind", bind], bind, SHIV_ROOT=str(warm_root))
    bind = f"127.0.0.1:{bench.free_port()}"
    launch("wsgi", [*serve, "--bind", bind, "--wsgi", "--worker-class", "gthread", "--threads",
                    str(bench.THREADS)], bind, SHIV_ROOT=str(warm_root))  # fmt: skip
    host, port = "127.0.0.1", str(bench.free_port())
    launch("uvicorn", [ws.venv / "bin" / "uvicorn", "bench_asgi:application", "--host", host,
                       "--port", port, "--workers", str(bench.WORKERS), "--no-access-log"],
           f"{host}:{port}", DJANGO_SETTINGS_MODULE="bench_asgi_settings")  # fmt: skip
    return servers


def static_path(site: Path) -> str:
    manifest = json.loads((site / "staticfiles" / "staticfiles.json").read_text())
    return "/static/" + str(manifest["paths"]["admin/css/base.css"])


def check_same_bytes(bench: ModuleType, servers: dict[str, tuple[str, int]], site: Path) -> None:
    expected = (site / "staticfiles" / static_path(site).removeprefix("/static/")).read_bytes()
    for name, (base, _) in servers.items():
        with bench.OPENER.open(base + static_path(site), timeout=10) as response:
            if response.read() != expected:
                raise bench.StepError(f"{name} static file", "answered other bytes than the file")


def measure(
    ws: Any, runs: int, seconds: float, samples: Any, warm_root: Path, bench: ModuleType
) -> None:
    """Requests per second for the async page and the static file from each server."""
    if not load.wrk_available():
        bench.note("wrk not found (apt-get install wrk): the ASGI rows are left out")
        return
    site = make_site(ws)
    archive = ws.root / "dist" / "asgi.pyz"
    archive.parent.mkdir(exist_ok=True)
    prepare(ws, bench, site, archive, warm_root)
    with contextlib.ExitStack() as stack:
        servers = start_servers(stack, ws, bench, site, archive, warm_root)
        check_same_bytes(bench, servers, site)
        targets = [
            (name, what, base + path, pid)
            for name, (base, pid) in servers.items()
            for what, path in (("page", ASYNC_PAGE), ("static", static_path(site)))
        ]
        for name, what, url, _ in targets:
            load.wrk(url, bench.WARM_UP_SECONDS, ws.log(f"warm-up asgi {name} {what}"))
        for index in range(1, runs + 1):
            for name, what, url, pid in targets if index % 2 else targets[::-1]:
                result = load.wrk(url, seconds, ws.log(f"wrk asgi {name} {what}"), pid)
                if result.errors:
                    bench.note(f"{name} {what}: {result.errors} errors under load")
                samples.add(f"asgi {what} rps/{name}", result.requests_per_second)
                samples.add(f"asgi {what} cpu/{name}", result.cpu_us_per_request)
            bench.note(f"asgi: round {index}/{runs} done")


def rows(samples: Any, row: type) -> list[Any]:
    got: dict[str, list[float]] = samples.load
    wsgi = "the same archive under `serve --wsgi` (gthread, 4 threads)"
    uvicorn = "`uvicorn --workers 2` from the virtualenv, whitenoise's middleware"
    made = [
        row("async page req/s under ASGI, vs WSGI", got.get("asgi page rps/asgi", []),
            got.get("asgi page rps/wsgi"), wsgi, True),
        row("async page req/s under ASGI, vs uvicorn", got.get("asgi page rps/asgi", []),
            got.get("asgi page rps/uvicorn"), uvicorn, True),
        row("static req/s under ASGI, vs WSGI", got.get("asgi static rps/asgi", []),
            got.get("asgi static rps/wsgi"), wsgi, True),
        row("static req/s under ASGI, vs uvicorn", got.get("asgi static rps/asgi", []),
            got.get("asgi static rps/uvicorn"), uvicorn, True),
        row("static CPU per request under ASGI (µs), vs uvicorn",
            got.get("asgi static cpu/asgi", []), got.get("asgi static cpu/uvicorn"), uvicorn,
            True),
    ]  # fmt: skip
    return [made_row for made_row in made if made_row.zipapp and made_row.baseline]


def main(argv: list[str]) -> int:
    """These rows alone: build the site, serve it three ways, print the table."""
    import run as bench  # bench/run.py

    # measure() builds its own archive, with the asgi extra.
    return bench.rows_alone(argv, "ASGI", measure, rows, build_first=False)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
