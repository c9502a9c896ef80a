"""Media rows for bench/run.py: one uploaded file under wrk, from three servers in one run.

`serve` answering MEDIA_URL from MEDIA_ROOT, against Django's own
`django.views.static.serve` of the same file (what a project's urlconf does without
the archive) under the same gunicorn settings, and against nginx (`alias`, sendfile).

Standard library only, like run.py, which calls `measure` and `rows` with itself as
`bench` (no import of run here: it runs as __main__). Alone, `python bench/media.py`
builds the example project and measures these rows only.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import load  # bench/load.py, beside this script

UPLOAD = "uploads/photo.jpg"  # below MEDIA_ROOT; served at /media/uploads/photo.jpg
UPLOAD_BYTES = 100 * 1024  # a photo's size, bytes that no layer can compress
KIND = "gthread"  # serve's default worker class

# The example's settings with Django's own view on MEDIA_URL, as its documentation
# shows for development, run here with DEBUG off under gunicorn.
VIEW_SETTINGS = """\
from example.settings import *  # noqa: F403

ROOT_URLCONF = "bench_media_urls"
"""
VIEW_URLS = """\
from django.conf import settings
from django.urls import re_path
from django.views.static import serve

from example.urls import urlpatterns as site

urlpatterns = [
    re_path(r"^media/(?P<path>.*)$", serve, {"document_root": settings.MEDIA_ROOT}),
    *site,
]
"""


def media_root(ws: Any) -> Path:
    # ZipappConfig's default MEDIA_ROOT, the example's: media in STATE_DIR.
    return Path(ws.env["STATE_DIR"]) / "media"


def write_upload(ws: Any) -> Path:
    path = media_root(ws) / UPLOAD
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(os.urandom(UPLOAD_BYTES))
    return path


def start_servers(
    stack: contextlib.ExitStack, ws: Any, bench: ModuleType, warm_root: Path
) -> dict[str, tuple[str, int]]:
    servers: dict[str, tuple[str, int]] = {}
    ready = "/media/" + UPLOAD

    def launch(name: str, args: list[str | Path], bind: str, **env: str) -> None:
        step = f"{name} media serving"
        url = f"http://{bind}{ready}"
        serving = bench.serving(step, args, ws=ws, cwd=ws.site, env={**ws.server_env, **env},
                                ready=url)  # fmt: skip
        process = stack.enter_context(serving)
        servers[name] = (f"http://{bind}", process.pid)

    bind = f"127.0.0.1:{bench.free_port()}"
    threads = str(bench.THREADS)
    launch("archive", [*bench.archive_python(ws), ws.archive, "serve", "--bind", bind,
                       "--workers", str(bench.WORKERS), "--worker-class", KIND,
                       "--threads", threads, "--access-log", ""],
           bind, SHIV_ROOT=str(warm_root))  # fmt: skip
    (ws.site / "bench_media_settings.py").write_text(VIEW_SETTINGS)
    (ws.site / "bench_media_urls.py").write_text(VIEW_URLS)
    bind = f"127.0.0.1:{bench.free_port()}"
    gunicorn = ws.venv / "bin" / "gunicorn"
    launch("static view", [gunicorn, "example.wsgi:application",
                           *bench.gunicorn_settings(bind, KIND)],
           bind, DJANGO_SETTINGS_MODULE="bench_media_settings")  # fmt: skip
    nginx = load.nginx_binary()
    if nginx:
        bind = f"127.0.0.1:{bench.free_port()}"
        launch("nginx", nginx_command(ws, nginx, bind, bench.WORKERS), bind)
    return servers


def nginx_command(ws: Any, nginx: str, bind: str, workers: int) -> list[str | Path]:
    prefix = ws.root / "nginx-media"
    prefix.mkdir(exist_ok=True)
    conf = prefix / "nginx.conf"
    text = load.nginx_conf(prefix, bind, media_root(ws), workers)
    conf.write_text(text.replace("location /static/", "location /media/"))
    return [nginx, "-p", prefix, "-c", conf]


def check_same_bytes(bench: ModuleType, servers: dict[str, tuple[str, int]], path: Path) -> None:
    expected = path.read_bytes()
    for name, (base, _) in servers.items():
        with bench.OPENER.open(base + "/media/" + UPLOAD, timeout=10) as response:
            if response.read() != expected:
                raise bench.StepError(f"{name} media file", "answered other bytes than the file")


def measure(
    ws: Any, runs: int, seconds: float, samples: Any, warm_root: Path, bench: ModuleType
) -> None:
    """Requests per second for the upload from each server, every round back to back."""
    if not load.wrk_available():
        bench.note("wrk not found (apt-get install wrk): the media rows are left out")
        return
    path = write_upload(ws)
    with contextlib.ExitStack() as stack:
        servers = start_servers(stack, ws, bench, warm_root)
        check_same_bytes(bench, servers, path)
        targets = [(name, base + "/media/" + UPLOAD, pid) for name, (base, pid) in servers.items()]
        for name, url, _ in targets:
            load.wrk(url, bench.WARM_UP_SECONDS, ws.log(f"warm-up media {name}"))
        for index in range(1, runs + 1):
            for name, url, pid in targets if index % 2 else targets[::-1]:
                result = load.wrk(url, seconds, ws.log(f"wrk media {name}"), pid)
                if result.errors:
                    bench.note(f"{name} media: {result.errors} errors under load")
                samples.add(f"media rps/{name}", result.requests_per_second)
                samples.add(f"media cpu/{name}", result.cpu_us_per_request)
            bench.note(f"media: round {index}/{runs} done")


def rows(samples: Any, row: type) -> list[Any]:
    got: dict[str, list[float]] = samples.load
    size = f"a {UPLOAD_BYTES // 1024} KB upload"
    view = f"`django.views.static.serve` of the same file, same gunicorn settings ({KIND})"
    nginx = "nginx, `alias` on MEDIA_ROOT, 2 workers, sendfile"
    made = [
        row("media req/s, vs django.views.static.serve", got.get("media rps/archive", []),
            got.get("media rps/static view"), f"{view}; {size}", True),
        row("media req/s, vs nginx", got.get("media rps/archive", []),
            got.get("media rps/nginx"), f"{nginx}; {size}", True),
        row("media CPU per request (µs), vs django.views.static.serve",
            got.get("media cpu/archive", []), got.get("media cpu/static view"), view, True),
    ]  # fmt: skip
    return [made_row for made_row in made if made_row.zipapp and made_row.baseline]


def main(argv: list[str]) -> int:
    """These rows alone: build the example, serve the upload, print the table."""
    import run as bench  # bench/run.py

    return bench.rows_alone(argv, "media", measure, rows, build_first=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
