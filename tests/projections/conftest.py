"""Event sources for read-model tests: one that counts what it yields, one whose clock the test sets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from messagehandler import Event, EventSource, EventTypeRegistry, InMemoryEventSource
from messagehandler.eventsource.observed import ObservedSource
from samples.organization import OrganizationRegistered, OrganizationRenamed


class CountingSource(ObservedSource):
    """Delegates to a source and counts the events it hands out, however they are read."""

    def __init__(self, inner: EventSource) -> None:
        super().__init__(inner, on_stream=lambda stream: self._count(stream.events), on_load=self._count)
        self.events_read = 0

    def _count(self, events: list[Event]) -> None:
        self.events_read += len(events)


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
