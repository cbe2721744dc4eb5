"""What every factory of a `WorkerApp` is handed: the worker's identity, its lease store, its resources."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Awaitable, Callable
from typing import TypeVar

from messagehandler.worker.leases import LeaseStore

T = TypeVar("T")


class WorkerContext:
    """Handed to every factory: the worker's identity, the lease store, and what to close at shutdown."""

    def __init__(self, app_name: str, worker_id: str, leases: LeaseStore) -> None:
        self.app_name = app_name
        self.worker_id = worker_id
        self.leases = leases
        self._stack = contextlib.AsyncExitStack()

    async def enter(self, resource: contextlib.AbstractAsyncContextManager[T]) -> T:
        """Enter an async context manager (a client, an event source) and exit it when the worker stops."""
        return await self._stack.enter_async_context(resource)

    def on_close(self, callback: Callable[[], Awaitable[object]]) -> None:
        """Call `callback` when the worker stops (after the services, in reverse order of registration)."""
        self._stack.push_async_callback(callback)

    async def aclose(self) -> None:
        await self._stack.aclose()


def default_worker_id() -> str:
    """`$MESSAGEHANDLER_WORKER_ID`, else host name and process id (a pod or replica name in a container)."""
    return os.environ.get("MESSAGEHANDLER_WORKER_ID") or f"{socket.gethostname()}-{os.getpid()}"
