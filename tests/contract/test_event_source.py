"""The EventSource contract (messagehandler.testing.event_source) against every built-in event source."""

from __future__ import annotations

from messagehandler.testing.event_source import EventSourceContract
from messagehandler.testing.table_limits import TableLimitsContract
from tests.contract.sources import AzureTables, InMemory


class TestInMemory(InMemory, EventSourceContract, TableLimitsContract):
    pass


class TestAzureTables(AzureTables, EventSourceContract, TableLimitsContract):
    pass
