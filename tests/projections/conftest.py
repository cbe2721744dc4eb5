"""Event sources for read-model tests: one that counts what it yields, one whose clock the test sets."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from messagehandler import Event, EventSource, EventStream, EventTypeRegistry, InMemoryEventSource
from messagehandler.eventsource.outbox import OutboxEntry
from samples.organization import OrganizationRegistered, OrganizationRenamed


class CountingSource:
    """Delegates to a source and counts the events it hands out, however they are read."""

    def __init__(self, inner: EventSource) -> None:
        self.inner = inner
        self.events_read = 0

    @property
    def registry(self) -> EventTypeRegistry:
        return self.inner.registry

    async def append(
        self, stream_type: str, stream_id: str, expected_version: int, events: Sequence[Event]
    ) -> OutboxEntry | None:
        return await self.inner.append(stream_type, stream_id, expected_version, events)

    async def load(self, stream_type: str, stream_id: str, *, from_version: int = 1) -> list[Event]:
        events = await self.inner.load(stream_type, stream_id, from_version=from_version)
        self.events_read += len(events)
        return events

    def read_type(self, stream_type: str) -> AsyncIterator[EventStream]:
        return self._counted(self.inner.read_type(stream_type))

    def read_changes(self, stream_type: str, since: datetime | None = None) -> AsyncIterator[EventStream]:
        return self._counted(self.inner.read_changes(stream_type, since))

    async def _counted(self, streams: AsyncIterator[EventStream]) -> AsyncIterator[EventStream]:
        async for stream in streams:
            self.events_read += len(stream.events)
            yield stream

    def stream_ids(self, stream_type: str) -> AsyncIterator[str]:
        return self.inner.stream_ids(stream_type)

    async def close(self) -> None:
        await self.inner.close()


class ClockedSource(InMemoryEventSource):
    """Commit times come from `clock`, so a test can age events or skew a partition's clock."""

    def __init__(self, registry: EventTypeRegistry | None = None) -> None:
        super().__init__(registry)
        self.clock = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)

    def _commit_time(self) -> datetime:
        self.clock += timedelta(milliseconds=1)
        return self.clock


@pytest.fixture
def clocked() -> ClockedSource:
    source = ClockedSource()
    source.registry.register(OrganizationRegistered, OrganizationRenamed)
    return source
