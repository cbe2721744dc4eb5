"""A private event loop on a background thread, for code that has no event loop of its own.

The Azure SDKs' aio clients belong to the loop that first used them: a source driven by `asyncio.run`
per request works once and then fails with `RuntimeError: Event loop is closed`, because each call
makes and closes a new loop. One long-lived loop on its own thread owns the source instead, and any
thread (a Flask or Django worker, a script) submits coroutines to it and waits for the result.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from messagehandler.errors import ConfigurationError

T = TypeVar("T")


class InEventLoopError(ConfigurationError):
    """A blocking call was made from code already running in an event loop; it would block that loop."""


class LoopThread:
    """Runs coroutines on one private loop in a daemon thread; `run` blocks the calling thread until done."""

    def __init__(self, name: str = "messagehandler-sync") -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self._thread.start()
        self._closed = False

    def run(self, coroutine: Coroutine[Any, Any, T], *, timeout: float | None = None) -> T:
        """The coroutine's result, computed on the private loop.

        Raises:
            InEventLoopError: the calling thread runs an event loop: use the async API there.
            ConfigurationError: the facade is closed.
        """
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            coroutine.close()
            raise InEventLoopError(
                "the blocking facade was called from a running event loop, which it would block: in async code "
                "use the async API (`await repository.get(...)`) instead of SyncEventStore"
            )
        if self._closed:
            coroutine.close()
            raise ConfigurationError("this SyncEventStore is closed")
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Stop the loop and join its thread; idempotent."""
        if self._closed:
            return
        self._closed = True
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()
