"""A local HTTP endpoint on 127.0.0.1 standing in for a webhook receiver or an Event Grid topic.

It records every request (headers and raw body), can be told to fail the next requests with a
status, and lets tests wait for a number of requests with a deadline instead of sleeping.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field

from aiohttp import web
from multidict import CIMultiDictProxy


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    query: dict[str, str]
    headers: CIMultiDictProxy[str]
    body: bytes
    status: int


@dataclass
class HttpReceiver:
    """Answers 200 unless a failure is queued; `requests` holds what arrived, in arrival order."""

    path: str = "/api/events"
    requests: list[RecordedRequest] = field(default_factory=list)
    _failures: deque[tuple[int, dict[str, str]]] = field(default_factory=deque)
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)
    _runner: web.AppRunner | None = None
    url: str = ""

    async def start(self) -> HttpReceiver:
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_post(self.path, self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}{self.path}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def fail_next(self, status: int, times: int = 1, headers: dict[str, str] | None = None) -> None:
        self._failures.extend([(status, headers or {})] * times)

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        status, headers = self._failures.popleft() if self._failures else (200, {})
        async with self._arrived:
            self.requests.append(RecordedRequest(request.path, dict(request.query), request.headers, body, status))
            self._arrived.notify_all()
        return web.Response(status=status, headers=headers)

    async def wait_for(self, count: int, deadline_seconds: float = 10.0) -> list[RecordedRequest]:
        async with self._arrived:
            await asyncio.wait_for(self._arrived.wait_for(lambda: len(self.requests) >= count), deadline_seconds)
        return list(self.requests)

    def delivered(self) -> list[RecordedRequest]:
        """Requests answered 200: what a sender actually got through, retries included."""
        return [request for request in self.requests if request.status == 200]
