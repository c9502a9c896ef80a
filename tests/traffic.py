"""Continuous requests to a site while something happens to it, counting every failure."""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Traffic:
    url: str
    answered: int = 0
    failures: list[str] = field(default_factory=list)
    last_body: bytes = b""
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def loop(self) -> None:
        while not self._stop.is_set():
            try:
                with urllib.request.urlopen(self.url, timeout=30) as response:
                    body = response.read()
                with self._lock:
                    self.last_body = body
                    self.answered += 1
            except (urllib.error.URLError, OSError) as exc:  # HTTPError included
                if isinstance(exc, urllib.error.HTTPError):
                    exc.close()
                with self._lock:
                    self.failures.append(f"{type(exc).__name__}: {exc}")

    def wait_for(self, text: bytes, timeout: float = 300) -> None:
        """Until a response holds `text` (a new build unpacks first: give it time)."""
        deadline = time.monotonic() + timeout
        while text not in self.last_body:
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not served within {timeout} s")
            self._stop.wait(0.05)


@contextmanager
def continuous_requests(url: str, clients: int = 2) -> Iterator[Traffic]:
    """GET url from `clients` threads, one request after another, until the block ends."""
    traffic = Traffic(url)
    threads = [threading.Thread(target=traffic.loop, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    try:
        yield traffic
    finally:
        traffic._stop.set()
        for thread in threads:
            thread.join(timeout=60)
