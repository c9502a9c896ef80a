"""uvicorn's gunicorn worker, with a shutdown that loses nothing a reload hands over.

Imported by gunicorn in each worker of a site served under ASGI, by its dotted name.
"""

from __future__ import annotations

import asyncio
import socket
import sys

from gunicorn.arbiter import Arbiter
from uvicorn.server import Server
from uvicorn_worker import UvicornWorker

# From the moment a worker stops accepting to the moment it closes its connections. On a
# reload every old worker gets its stop signal at once, but one may still accept a new
# connection in the instant before it handles it: uvicorn would then close that
# connection before reading its request (the client sees it closed without an answer)
# or refuse its websocket handshake with a 500. Stopping the accepts of every old worker
# first, and closing their connections a moment later, leaves the new connections to the
# new workers and lets the few accepted ones send their request first.
SETTLE_SECONDS = 0.5


class SettlingServer(Server):
    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        await asyncio.sleep(SETTLE_SECONDS)
        await super().shutdown(sockets=sockets)


class ArchiveWorker(UvicornWorker):  # type: ignore[misc]  # uvicorn-worker ships no types
    """uvicorn-worker's UvicornWorker, serving with SettlingServer."""

    async def _serve(self) -> None:
        # As UvicornWorker._serve (uvicorn-worker 0.4), with the server class replaced.
        self.config.app = self.wsgi
        server = SettlingServer(config=self.config)
        self._install_sigquit_handler()
        await server.serve(sockets=self.sockets)
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)
