"""The snapshot contract (messagehandler.testing.snapshots) against every built-in event source."""

from __future__ import annotations

from messagehandler.testing.snapshots import SnapshotContract
from tests.contract.sources import AzureTables, InMemory


class TestInMemory(InMemory, SnapshotContract):
    pass


class TestAzureTables(AzureTables, SnapshotContract):
    pass
