"""Load and memory measurements for bench/run.py: wrk, slow clients, RSS, nginx, the floor.

Standard library only, like run.py. wrk and nginx are Debian packages
(`apt-get install wrk nginx`); without wrk the load rows are left out, without nginx
its row is.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

WRK_THREADS = 2
WRK_CONNECTIONS = 32
SLOW_CLIENTS = (
    2  # as many as workers: connections that send half a request and wait: a phone on a bad network
)

# A WSGI application that answers every request with one file's bytes and the headers
# the archive sends with them, both read once at import: the same bytes on the wire, the
# most a static path inside gunicorn can reach with these settings.
FLOOR_APP = """\
import json
import os

BODY = open(os.environ["BENCH_FLOOR_FILE"], "rb").read()
HEADERS = [tuple(pair) for pair in json.load(open(os.environ["BENCH_FLOOR_HEADERS"]))]


def application(environ, start_response):
    start_response("200 OK", HEADERS)
    return [BODY]
"""

# The example's settings plus whitenoise's middleware, as its documentation sets it up:
# the usual way to serve static files from a virtualenv deploy.
MIDDLEWARE_SETTINGS = """\
from example.settings import *  # noqa: F403

MIDDLEWARE = [
    MIDDLEWARE[0],  # noqa: F405  SecurityMiddleware first, as whitenoise documents
    "whitenoise.middleware.WhiteNoiseMiddleware",
    *MIDDLEWARE[1:],  # noqa: F405
]
"""

NGINX_CONF = """\
{user}worker_processes {workers};
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    types {{ text/css css; }}
    default_type application/octet-stream;
    server {{
        listen {bind};
        location /static/ {{ alias {root}/; }}
    }}
}}
"""


@dataclass(frozen=True)
class Load:
    requests_per_second: float
    p99_ms: float
    errors: int  # non-2xx answers, timeouts and socket errors together
    requests: int = 0
    cpu_us_per_request: float = float("nan")  # the server's CPU time, master and workers


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next(
        (path for path in ("/usr/sbin/nginx", "/sbin/nginx") if os.access(path, os.X_OK)), None
    )


def nginx_conf(prefix: Path, bind: str, root: Path, workers: int) -> str:
    for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (prefix / name).mkdir(parents=True, exist_ok=True)
    # As root, nginx's workers would switch to nobody, who cannot read a private tmpdir.
    user = "user root;\n" if os.geteuid() == 0 else ""
    return NGINX_CONF.format(user=user, workers=workers, prefix=prefix, bind=bind, root=root)


def wrk(url: str, seconds: float, log: Path, server: int | None = None) -> Load:
    """wrk's requests per second and 99th percentile latency over keep-alive connections.

    With the server's pid, also the CPU time it spent per request: a figure that other
    work on a shared machine moves much less than requests per second.
    """
    before = cpu_seconds(server) if server else 0.0
    command = [
        "wrk", f"-t{WRK_THREADS}", f"-c{WRK_CONNECTIONS}", f"-d{seconds:g}s", "--latency",
        "--timeout", "5s", url,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    log.write_text(" ".join(command) + "\n" + done.stdout + done.stderr, encoding="utf-8")
    if done.returncode != 0:
        raise RuntimeError(f"wrk exited with status {done.returncode}: {done.stderr.strip()}")
    result = parse_wrk(done.stdout)
    if server and result.requests:
        used = cpu_seconds(server) - before
        result = replace(result, cpu_us_per_request=used * 1_000_000 / result.requests)
    return result


def parse_wrk(output: str) -> Load:
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
    if rate is None:
        raise RuntimeError(f"no Requests/sec in wrk's output:\n{output}")
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output)) + sum(
        int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", output)
    )
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    latency = float(p99[1]) * scale[p99[2]] if p99 else float("nan")
    count = re.search(r"(\d+) requests in", output)
    return Load(float(rate[1]), latency, errors, int(count[1]) if count else 0)


@contextmanager
def slow_clients(host: str, port: int, count: int = SLOW_CLIENTS) -> Iterator[None]:
    """Connections that send half a request and then wait, for as long as the block runs."""
    held = []
    try:
        for _ in range(count):
            connection = socket.create_connection((host, port), timeout=10)
            connection.sendall(b"GET /static/ HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            held.append(connection)
        yield
    finally:
        for connection in held:
            connection.close()


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory (VmHWM) of a process and its children, in MB, added up.

    Pages the workers share with the master after fork count in each: the same for both
    sides of a comparison, since both preload the application.
    """
    return sum(_vm_hwm_kb(member) for member in [pid, *_children(pid)]) * 1024 / 1_000_000


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process and its children, so far."""
    ticks = 0
    for member in [pid, *_children(pid)]:
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(n) for n in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def _vm_hwm_kb(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    return int(match[1]) if match else 0
