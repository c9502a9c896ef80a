"""The secret scan's cost on content that once made it slow, for bench/run.py.

Two inputs, each scanned with the builder's own `scan()` and the secrets a build knows
(a SECRET_KEY and a database password):

- one 40 KB line of minified JavaScript (short names, URLs with query strings, a
  base64 data: URI, a 16 KB table written in hex, no line breaks), as front-end builds
  write them;
- 2,000 files of real text from the installed Django (its .py, .html, .js, .css, .txt,
  .json and .po files; the same ones on every run, in an order that mixes the kinds).

Each has a baseline measured in the same round. For the line: the same scan of 40 KB of
ordinary source code in lines (Django's own .py files), so the ratio says what the
line's content costs beyond its size (each of its hundreds of URLs is looked at). With
time linear in the bytes it stays put as the line grows (5.9 at 400 KB, measured
once); patterns that backtracked made it grow with the line's length. For
the files: what the build does to every packed file anyway, reading the same bytes and
hashing them with SHA-256.

Standard library only here, like run.py; the measuring runs in a python that has
django-zipapp installed. Run alone: `python bench/scan.py [--runs N]` with such a python
prints both rows; `--json` prints the samples for run.py.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

LINE_BYTES = 40_000
FILES = 2_000
SUFFIXES = (".py", ".html", ".js", ".css", ".txt", ".json", ".po")
ROWS = (
    ("scan 40 KB line", "secret scan, one 40 KB minified line (ms)"),
    ("scan 2000 files", f"secret scan, {FILES:,} files of real text (ms)"),
)


BASELINES = (
    "the same scan of 40 KB of ordinary source code in lines (Django's .py files)",
    "reading the same files and hashing them with SHA-256",
)


def minified_line(size: int = LINE_BYTES) -> bytes:
    """One line of minified JavaScript, made the same way on every run."""
    chance = random.Random(40)
    data = base64.b64encode(chance.randbytes(3000)).decode()
    # A table shipped as hex (a wasm module, a font subset): one long run of letters and
    # digits, where every position could start a URL's scheme.
    table = chance.randbytes(8000).hex()
    parts = [f'var img="data:image/png;base64,{data}",wasm="{table}";']
    while sum(map(len, parts)) < size:
        name = "".join(chance.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(2))
        number = chance.randrange(1000)
        parts.append(
            chance.choice(
                (
                    f"function {name}(a,b){{return a.{name}+b*{number}}}",
                    f'{name}.get("https://api.example.com/v1/{name}?page={number}&sort=id")',
                    f"if({name}&&{name}.length>{number}){{{name}=[]}}",
                    f"{name}=window.location.href+'#/{name}/{number}';",
                    f"{name}.style.cssText='background:url(https://cdn.example.com/{name}.png?v={number})';",
                )
            )
        )
    return "".join(parts).encode()[:size]


def real_files(count: int = FILES) -> list[Path]:
    import django

    root = Path(django.__file__).parent
    found = [path for path in root.rglob("*") if path.suffix in SUFFIXES]
    # By a hash of the name: Django's 100 locales' .po files would otherwise come first.
    found.sort(key=lambda path: hashlib.sha256(str(path.relative_to(root)).encode()).digest())
    return found[:count]


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * 1000


def measure(runs: int) -> dict[str, list[float]]:
    """Milliseconds of each scan and of its baseline, runs times, taking turns."""
    from django_zipapp.builder.secrets import Secret, scan

    known = [
        Secret("the value of SECRET_KEY", b"bench-" + b"x7Rq2Lm9Zt4Wp8Kd" * 3),
        Secret("the password of DATABASES['default']", b"db-pw-Vt5Nw3Xe8Jd"),
    ]
    with tempfile.TemporaryDirectory(prefix="scan-bench-") as work:
        line, code = Path(work, "app.min.js"), Path(work, "code.py")
        line.write_bytes(minified_line())
        code.write_bytes(source_code(len(line.read_bytes())))
        files = real_files()
        rounds = {
            "scan 40 KB line": (partial(_scan_clean, scan, [line], known),
                                partial(_scan_clean, scan, [code], known)),
            "scan 2000 files": (partial(_scan_clean, scan, files, known),
                                partial(_hash_all, files)),
        }  # fmt: skip
        got: dict[str, list[float]] = {}
        for _ in range(runs):
            for key, (measured, baseline) in rounds.items():
                got.setdefault(key, []).append(timed(measured))
                got.setdefault(f"{key}/baseline", []).append(timed(baseline))
    return got


def source_code(size: int) -> bytes:
    """Ordinary Python source in lines, size bytes of it."""
    text = b"".join(path.read_bytes() for path in real_files() if path.suffix == ".py")
    return text[:size]


def _scan_clean(scan: Callable[..., list[Any]], paths: list[Path], known: list[Any]) -> None:
    found = scan([(path.name, path) for path in paths], known)
    assert not found, found  # neither input holds a secret: the whole input is read


def _hash_all(paths: list[Path]) -> None:
    for path in paths:
        hashlib.sha256(path.read_bytes()).digest()


def measure_with(python: Path | str, runs: int, add: Callable[[str, float], None]) -> None:
    """run.py's entry: the measuring runs in python, the virtualenv's."""
    output = subprocess.run(
        [str(python), __file__, "--json", "--runs", str(runs)],
        check=True, capture_output=True, text=True, timeout=900,
    ).stdout  # fmt: skip
    for key, values in json.loads(output).items():
        for value in values:
            add(key, value)


def rows(got: dict[str, list[float]], row: Callable[..., Any]) -> list[Any]:
    """The table's rows; row is run.py's Row, passed in: run.py runs as a script."""
    return [
        row(measure, got[key], got.get(f"{key}/baseline"), baseline, paired=True)
        for (key, measure), baseline in zip(ROWS, BASELINES, strict=True)
        if got.get(key)
    ]


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description="Time the build's secret scan.")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print the samples as JSON")
    args = parser.parse_args(argv)
    got = measure(args.runs)
    if args.json:
        print(json.dumps(got))
        return
    for key, measure_name in ROWS:
        mine, theirs = got[key], got[f"{key}/baseline"]
        ratio = statistics.median(m / t for m, t in zip(mine, theirs, strict=True))
        print(
            f"| {measure_name} | {statistics.median(mine):.2f} ({min(mine):.2f}-{max(mine):.2f}) "
            f"| {statistics.median(theirs):.2f} | {ratio:.2f} |"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
