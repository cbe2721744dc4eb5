"""The worker's HTTP endpoint for probes: liveness, readiness and a status document.

- `GET /healthz` (liveness): 200 while no service has failed; 503 once one has, so the orchestrator
  restarts the container (the worker also exits with code 1).
- `GET /readyz` (readiness): 200 once every service runs (hosts receiving, elections competing) and
  until shutdown begins; 503 before and after.
- `GET /status`: JSON with the worker id and each service's state (in-flight messages, leases held).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from messagehandler.extras import requires_extra

with requires_extra("worker", "the worker's health endpoint", ("aiohttp",)):
    from aiohttp import web


class HealthServer:
    """Serves the probes on `host:port` (port 0 picks a free one; `port` tells which after `start`)."""

    def __init__(
        self,
        *,
        alive: Callable[[], bool],
        ready: Callable[[], bool],
        status: Callable[[], dict[str, Any]],
        host: str = "0.0.0.0",  # noqa: S104 - probes come from outside the container
        port: int = 8080,
    ) -> None:
        self.host = host
        self.port = port
        self._alive = alive
        self._ready = ready
        self._status = status
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/status", self._status_page)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        if server is not None and self.port == 0:
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _healthz(self, request: web.Request) -> web.Response:
        return _answer(self._alive(), "alive", "a service failed")

    async def _readyz(self, request: web.Request) -> web.Response:
        return _answer(self._ready(), "ready", "not ready")

    async def _status_page(self, request: web.Request) -> web.Response:
        return web.json_response(self._status())


def _answer(ok: bool, yes: str, no: str) -> web.Response:
    return web.json_response({"status": yes if ok else no}, status=200 if ok else 503)
