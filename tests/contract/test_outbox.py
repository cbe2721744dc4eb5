"""The outbox contract (messagehandler.testing.outbox) against every built-in event source with an outbox."""

from __future__ import annotations

from messagehandler.testing.outbox import OutboxContract
from tests.contract.sources import AzureTables, InMemory


class TestInMemory(InMemory, OutboxContract):
    pass


class TestAzureTables(AzureTables, OutboxContract):
    pass
