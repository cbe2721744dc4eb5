"""The built-in event sources, as the `make_source` the contract suites ask for."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from messagehandler import EventSource, EventTypeRegistry, InMemoryEventSource
from messagehandler.eventsource.azure_tables import AzureTableStorageEventSource
from messagehandler.testing.source_factory import SourceFactory


class InMemory(SourceFactory):
    async def make_source(self, registry: EventTypeRegistry, *, outbox: bool) -> EventSource:
        return InMemoryEventSource(registry, outbox=outbox)


@pytest.mark.azurite
class AzureTables(SourceFactory):
    """A source on a fresh table of the session's Azurite; the table is dropped after the test."""

    @pytest.fixture(autouse=True)
    def _table(self, make_table_source: Callable[..., AzureTableStorageEventSource]) -> None:
        self.make_table_source = make_table_source

    async def make_source(self, registry: EventTypeRegistry, *, outbox: bool) -> EventSource:
        return self.make_table_source(registry=registry, outbox=outbox)
