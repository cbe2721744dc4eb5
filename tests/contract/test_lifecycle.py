"""The stream lifecycle contract (messagehandler.testing.lifecycle) against every built-in event source."""

from __future__ import annotations

from messagehandler.testing.lifecycle import StreamLifecycleContract
from tests.contract.sources import AzureTables, InMemory


class TestInMemory(InMemory, StreamLifecycleContract):
    pass


class TestAzureTables(AzureTables, StreamLifecycleContract):
    pass
