"""Blocking access to an event source for code without an event loop: scripts, Flask, Django.

    store = SyncEventStore(lambda: AzureTableStorageEventSource.from_connection_string(conn, "Events"))
    repository = store.repository()                 # one per request, like AggregateRepository
    org = repository.get(Organization, "acme")
    org.rename("Acme NV")
    repository.flush()
    store.close()                                   # at shutdown

One store serves every request of the process, from any number of threads: the source and its SDK
clients live on the store's private loop (`LoopThread`), and each call waits for its result there.
Calling it from async code raises `InEventLoopError`: there, use the async API.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any, TypeVar

from messagehandler.domain.aggregate import EventSourced
from messagehandler.errors import ConcurrencyError
from messagehandler.events.event import Event
from messagehandler.eventsource.protocol import EventSource
from messagehandler.repository.access import AccessStrategy
from messagehandler.repository.repository import AggregateRepository
from messagehandler.sync.loop_thread import LoopThread

A = TypeVar("A", bound=EventSourced)
T = TypeVar("T")


class SyncRepository:
    """`AggregateRepository` with blocking `get` and `flush`; one per request or command, as the async one."""

    def __init__(self, store: SyncEventStore, repository: AggregateRepository) -> None:
        self._store = store
        self.unit_of_work = repository

    def get(self, aggregate_type: type[A], id: str) -> A:
        return self._store.run(self.unit_of_work.get(aggregate_type, id))

    def add(self, aggregate: EventSourced) -> None:
        self.unit_of_work.add(aggregate)

    def flush(self) -> list[Event]:
        return self._store.run(self.unit_of_work.flush())


class SyncEventStore:
    """An event source owned by a private event loop, with blocking methods for code that has none.

    Args:
        make_source: builds the source; it runs on the private loop, so the SDK clients belong to it.
            May be a coroutine function.
        timeout: seconds a call may take before `TimeoutError` (default: no limit).
        access: the access strategies of every unit of work (see `AggregateRepository`); a `Cached` state
            cache is shared by all of them.
    """

    def __init__(
        self,
        make_source: Callable[[], EventSource | Awaitable[EventSource]],
        *,
        timeout: float | None = None,
        access: Mapping[type[EventSourced], AccessStrategy] | None = None,
    ) -> None:
        self._loop = LoopThread()
        self._timeout = timeout
        self._access = access

        async def build() -> EventSource:
            made = make_source()
            return made if isinstance(made, EventSource) else await made

        try:
            self.source: EventSource = self.run(build())
        except BaseException:
            self._loop.close()
            raise

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run any coroutine on the store's loop (a projector's restore, a relay pass) and return its result.

        Raises:
            InEventLoopError: called from a running event loop.
        """
        return self._loop.run(coroutine, timeout=self._timeout)

    def repository(self) -> SyncRepository:
        """A new unit of work on the store's source."""
        return SyncRepository(self, AggregateRepository(self.source, access=self._access))

    def retry_on_conflict(
        self, command: Callable[[SyncRepository], T], *, attempts: int = 3, backoff: float = 0.01
    ) -> T:
        """Run `command` in a fresh unit of work and flush; on `ConcurrencyError` reload and run it again.

        The blocking twin of `messagehandler.retry_on_conflict`, with the same rules: the command does
        all its work through the repository it is given, and a flush that stored some aggregates before
        failing on another is not retried.
        """
        if attempts < 1:
            raise ValueError(f"attempts must be >= 1, got {attempts}")
        for attempt in range(1, attempts + 1):
            repository = self.repository()
            result = command(repository)
            try:
                repository.flush()
            except ConcurrencyError:
                if attempt == attempts or repository.unit_of_work.last_flush_committed:
                    raise
                time.sleep(backoff * attempt * (0.5 + random.random()))
                continue
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        """Close the source, then stop the loop; idempotent."""
        if self._loop.closed:
            return
        try:
            self.run(self.source.close())
        finally:
            self._loop.close()

    def __enter__(self) -> SyncEventStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
