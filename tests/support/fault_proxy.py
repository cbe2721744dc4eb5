"""A TCP proxy between the SDK and Azurite that fails on command, for fault-injection tests.

The failures are the ones a real network and a real service produce, and each leaves the client with
a different piece of knowledge:

- `refuse()`: nothing listens on the port any more; new connections are refused and open ones are cut.
  The request never reached the service.
- `Fault.RESET_REQUEST`: the connection is cut when a request starts, before any of it is forwarded.
- `Fault.DROP_RESPONSE`: the request is forwarded, the service answers, and the answer is thrown away
  and the connection cut: the client cannot know whether its request took effect.
- `Fault.CUT_RESPONSE`: the first `cut_after` bytes of the answer are forwarded, then the connection is cut.
- `Fault.DELAY`: the request is held for `delay` seconds before it is forwarded.
- `Fault.ERROR_AFTER`: the request is forwarded and carried out, and the client gets an HTTP error
  (`status`, `code`) instead of the service's answer, as from a gateway that failed on the way back.
- `Fault.ERROR_BEFORE`: the client gets an HTTP error at once and the request is not forwarded.
- `Fault.ANSWER_AFTER`: the request is forwarded and carried out, and the client gets `status` with
  `body` and `headers` instead, as from a proxy that answers for the service (a login page, a page
  of nonsense, a service that repeats itself).

Faults are armed for the next `times` requests whose head contains `match` (for example `b"$batch"` for
an entity group transaction, or `b"GET "`). HTTP/1.1 without pipelining is assumed, which is what the
Azure SDKs' aiohttp transport does: a request starts with the first bytes a client sends after a response.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from http import HTTPStatus


class Fault(enum.Enum):
    RESET_REQUEST = "reset the connection before forwarding the request"
    DROP_RESPONSE = "forward the request, drop the response, reset the connection"
    CUT_RESPONSE = "forward part of the response, then reset the connection"
    DELAY = "hold the request before forwarding it"
    ERROR_AFTER = "forward the request, answer with an HTTP error instead of the service's response"
    ERROR_BEFORE = "answer with an HTTP error without forwarding the request"
    ANSWER_AFTER = "forward the request, answer with the given status, headers and body instead"


@dataclass
class _Rule:
    fault: Fault
    match: bytes | None
    times: int
    delay: float
    cut_after: int
    status: int = 503
    code: str = "ServerBusy"
    after: int = 0
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    def error_response(self) -> bytes:
        body = json.dumps(
            {"odata.error": {"code": self.code, "message": {"lang": "en-US", "value": f"injected {self.code}"}}}
        ).encode()
        head = (
            f"HTTP/1.1 {self.status} {HTTPStatus(self.status).phrase}\r\nContent-Type: application/json;odata=minimalmetadata\r\n"
            f"x-ms-error-code: {self.code}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        return head.encode() + body

    def answer(self) -> bytes:
        headers = {"Content-Type": "application/json;odata=minimalmetadata", **self.headers}
        lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        head = (
            f"HTTP/1.1 {self.status} {HTTPStatus(self.status).phrase}\r\n{lines}"
            f"Content-Length: {len(self.body)}\r\nConnection: close\r\n\r\n"
        )
        return head.encode() + self.body


@dataclass(eq=False)
class _Connection:
    client: asyncio.StreamWriter
    server: asyncio.StreamWriter
    rule: _Rule | None = None
    at_request_start: bool = True


@dataclass
class FaultProxy:
    """Forwards 127.0.0.1:`port` to `target_port`; see the module docstring for the faults."""

    target_port: int
    target_host: str = "127.0.0.1"
    port: int = 0
    requests: list[str] = field(default_factory=list)
    """The request line of every request that started, in order (faulted ones included)."""
    faulted: list[str] = field(default_factory=list)
    """The request lines of the requests a fault was applied to."""

    def __post_init__(self) -> None:
        self._rules: list[_Rule] = []
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> FaultProxy:
        self._server = await asyncio.start_server(
            self._serve, "127.0.0.1", self.port, reuse_address=True, limit=1 << 20
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        await self.refuse()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def __aenter__(self) -> FaultProxy:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def rewrite(self, connection_string: str) -> str:
        """The connection string with every endpoint on the target port sent through this proxy."""
        return re.sub(rf"127\.0\.0\.1:{self.target_port}\b", f"127.0.0.1:{self.port}", connection_string)

    def inject(
        self,
        fault: Fault,
        *,
        match: bytes | None = None,
        times: int = 1,
        delay: float = 0.0,
        cut_after: int = 64,
        status: int = 503,
        code: str = "ServerBusy",
        after: int = 0,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
    ) -> None:
        """Apply `fault` to the next `times` requests whose head contains `match` (any request if None),
        once `after` such requests have passed untouched."""
        self._rules.append(_Rule(fault, match, times, delay, cut_after, status, code, after, body, dict(headers or {})))

    def clear(self) -> None:
        self._rules.clear()

    @property
    def armed(self) -> int:
        """How many armed faults have not been applied yet."""
        return sum(rule.times for rule in self._rules)

    async def refuse(self) -> None:
        """Stop listening and cut every open connection: the service is unreachable."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for connection in list(self._connections):
            _abort(connection.client)
            _abort(connection.server)
        self._connections.clear()

    async def accept(self) -> None:
        """Listen again on the same port after `refuse()`."""
        if self._server is None:
            await self.start()

    @contextlib.asynccontextmanager
    async def down(self) -> AsyncIterator[None]:
        """The service is unreachable inside the block."""
        await self.refuse()
        try:
            yield
        finally:
            await self.accept()

    def _take_rule(self, head: bytes) -> _Rule | None:
        for rule in self._rules:
            if rule.match is None or rule.match in head:
                if rule.after > 0:
                    rule.after -= 1
                    return None
                rule.times -= 1
                if rule.times <= 0:
                    self._rules.remove(rule)
                return rule
        return None

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            _abort(client_writer)
            return
        connection = _Connection(client_writer, server_writer)
        self._connections.add(connection)
        upstream = asyncio.ensure_future(self._upstream(connection, client_reader))
        downstream = asyncio.ensure_future(self._downstream(connection, server_reader))
        for task in (upstream, downstream):
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        try:
            await asyncio.wait({upstream, downstream}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            upstream.cancel()
            downstream.cancel()
            _abort(client_writer)
            _abort(server_writer)
            self._connections.discard(connection)

    async def _upstream(self, connection: _Connection, reader: asyncio.StreamReader) -> None:
        while data := await reader.read(1 << 16):
            if connection.at_request_start:
                connection.at_request_start = False
                line = data.split(b"\r\n", 1)[0].decode("latin-1")
                self.requests.append(line)
                connection.rule = rule = self._take_rule(data[:8192])
                if rule is not None:
                    self.faulted.append(line)
                    if rule.fault is Fault.RESET_REQUEST:
                        return
                    if rule.fault is Fault.ERROR_BEFORE:
                        await _answer(connection.client, rule.error_response())
                        return
                    if rule.fault is Fault.DELAY:
                        await asyncio.sleep(rule.delay)
            connection.server.write(data)
            await connection.server.drain()

    async def _downstream(self, connection: _Connection, reader: asyncio.StreamReader) -> None:
        while data := await reader.read(1 << 16):
            rule = connection.rule
            if rule is not None and rule.fault is Fault.DROP_RESPONSE:
                return
            if rule is not None and rule.fault is Fault.ERROR_AFTER:
                await _answer(connection.client, rule.error_response())
                return
            if rule is not None and rule.fault is Fault.ANSWER_AFTER:
                await _answer(connection.client, rule.answer())
                return
            if rule is not None and rule.fault is Fault.CUT_RESPONSE:
                connection.client.write(data[: rule.cut_after])
                with contextlib.suppress(ConnectionError):
                    await connection.client.drain()
                return
            connection.client.write(data)
            await connection.client.drain()
            connection.rule = None
            connection.at_request_start = True


async def _answer(writer: asyncio.StreamWriter, response: bytes) -> None:
    """Send a whole response and close the connection gracefully, so the client reads all of it."""
    writer.write(response)
    with contextlib.suppress(ConnectionError):
        await writer.drain()
        writer.close()
        await writer.wait_closed()


def _abort(writer: asyncio.StreamWriter) -> None:
    transport = writer.transport
    if not transport.is_closing():
        transport.abort()
