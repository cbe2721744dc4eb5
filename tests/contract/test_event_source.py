"""The EventSource contract (messagehandler.testing.event_source) against every built-in event source."""

from __future__ import annotations

from messagehandler.testing.event_source import EventSourceContract
from tests.contract.sources import AzureTables, InMemory


class TestInMemory(InMemory, EventSourceContract):
    pass


class TestAzureTables(AzureTables, EventSourceContract):
    pass
