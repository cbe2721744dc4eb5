"""How the event-source and outbox contract suites get a fresh, empty store for each test."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator

from messagehandler.events.registry import EventTypeRegistry
from messagehandler.eventsource.protocol import EventSource
from messagehandler.testing._pytest import pytest, pytest_asyncio
from messagehandler.testing.streams import CONTRACT_EVENTS


class SourceFactory(ABC):
    """Implement `make_source`; the suites' fixtures build one store per test with it and close it after."""

    pytestmark = pytest.mark.asyncio

    @abstractmethod
    async def make_source(self, registry: EventTypeRegistry, *, outbox: bool) -> EventSource:
        """A new, empty store reading with `registry`, with its outbox on when `outbox` is true.

        The registry is closed (it knows only the suite's classes), so the suite can store a type
        the reader does not know.
        """

    async def _open(self, *, outbox: bool) -> AsyncIterator[EventSource]:
        source = await self.make_source(EventTypeRegistry(CONTRACT_EVENTS, closed=True), outbox=outbox)
        try:
            yield source
        finally:
            await source.close()

    @pytest_asyncio.fixture
    async def event_source(self) -> AsyncIterator[EventSource]:
        async for source in self._open(outbox=False):
            yield source

    @pytest_asyncio.fixture
    async def outbox_source(self) -> AsyncIterator[EventSource]:
        async for source in self._open(outbox=True):
            yield source
