"""The outbox relay against a store that fails: typed errors, nothing lost, everything published next pass."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from azure.data.tables.aio import TableClient

from messagehandler import EventTypeRegistry, ServiceUnavailableError
from messagehandler.channels import CloudEvent
from messagehandler.channels.dispatcher import Dispatcher
from messagehandler.channels.relay import OutboxRelay
from messagehandler.channels.volatile import InProcessChannel
from messagehandler.eventsource.azure_tables import AzureTableStorageEventSource
from messagehandler.testing.azurite import AzuriteProcess
from tests.eventsource.azure_tables_support import ALL_TYPES, ORG, history
from tests.support.fault_proxy import Fault, FaultProxy

STRANDED = timedelta(0)
"""The relay's `min_age` here: these tests strand outbox rows themselves and relay them at once."""

pytestmark = pytest.mark.azurite


@pytest.fixture
async def stored(azurite: AzuriteProcess, table_name: str) -> AsyncIterator[dict[str, list[str]]]:
    """Three streams committed with the outbox on and never published; their event ids by stream."""
    async with AzureTableStorageEventSource.from_connection_string(
        azurite.connection_string, table_name, registry=EventTypeRegistry(ALL_TYPES), outbox=True
    ) as writer:
        ids: dict[str, list[str]] = {}
        for stream_id, count in (("a", 2), ("b", 1), ("c", 3)):
            events = history(stream_id, count)
            await writer.append(ORG, stream_id, 0, events)
            ids[stream_id] = [e.metadata.event_id for e in events]
        yield ids
        await writer.table_client.delete_table()


@pytest.fixture
async def relay_source(
    table_proxy: FaultProxy, azurite: AzuriteProcess, table_name: str
) -> AsyncIterator[AzureTableStorageEventSource]:
    async with AzureTableStorageEventSource.from_connection_string(
        table_proxy.rewrite(azurite.connection_string),
        table_name,
        registry=EventTypeRegistry(ALL_TYPES),
        outbox=True,
        retry_total=0,
        connection_timeout=2,
    ) as source:
        yield source


@dataclass
class Relaying:
    relay: OutboxRelay
    seen: list[CloudEvent]
    source: AzureTableStorageEventSource
    stored: dict[str, list[str]]
    proxy: FaultProxy
    table: TableClient

    async def outbox_rows(self) -> list[str]:
        rows = [row async for row in self.table.list_entities()]
        return sorted(row["SourceId"] for row in rows if row["RowKey"].startswith("$outbox_"))


@pytest.fixture
def relaying(
    stored: dict[str, list[str]],
    relay_source: AzureTableStorageEventSource,
    table_proxy: FaultProxy,
    raw_table: TableClient,
) -> Relaying:
    """A relay through the proxy to an in-process channel that records what it is given."""
    channel = InProcessChannel("live")
    seen: list[CloudEvent] = []

    async def record(envelope: CloudEvent) -> None:
        seen.append(envelope)

    channel.subscribe(record)
    relay = OutboxRelay(relay_source, Dispatcher().add_channel(channel).route(ORG).to("live"), min_age=STRANDED)
    return Relaying(relay, seen, relay_source, stored, table_proxy, raw_table)


async def test_a_pass_against_a_store_that_is_down_raises_typed_and_the_next_pass_publishes_everything(
    relaying: Relaying,
) -> None:
    await relaying.source.load(ORG, "a")  # the source has made sure of its table; the pass itself meets the outage

    async with relaying.proxy.down():
        with pytest.raises(ServiceUnavailableError, match="outbox"):
            await relaying.relay.run_once()

    assert relaying.seen == []
    assert await relaying.outbox_rows() == ["a", "b", "c"]
    report = await relaying.relay.run_once()
    assert (report.entries, report.published, report.cleared, report.failed) == (3, 6, 3, 0)
    assert sorted(e.id for e in relaying.seen) == sorted(i for ids in relaying.stored.values() for i in ids)
    assert await relaying.outbox_rows() == []


async def test_a_stream_that_cannot_be_loaded_is_reported_kept_and_published_next_pass(relaying: Relaying) -> None:
    stored = relaying.stored
    relaying.proxy.inject(Fault.RESET_REQUEST, match=b"b_0000000001", times=2)  # the load of stream b

    report = await relaying.relay.run_once()

    assert (report.entries, report.published, report.failed) == (3, 5, 1)
    assert [e.id for e in relaying.seen] == stored["a"] + stored["c"]
    assert await relaying.outbox_rows() == ["b"]
    again = await relaying.relay.run_once()
    assert (again.entries, again.published, again.failed) == (1, 1, 0)
    assert [e.id for e in relaying.seen] == stored["a"] + stored["c"] + stored["b"]
    assert await relaying.outbox_rows() == []
