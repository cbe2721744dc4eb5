"""The outbox relay against a store that fails: typed errors, nothing lost, everything published next pass."""

from __future__ import annotations

import base64
import json
import traceback
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from azure.data.tables.aio import TableClient
from azure.storage.queue.aio import QueueClient

from messagehandler import EventTypeRegistry, ServiceUnavailableError
from messagehandler.channels import CloudEvent
from messagehandler.channels.dispatcher import Dispatcher
from messagehandler.channels.errors import ChannelUnavailableError
from messagehandler.channels.relay import OutboxRelay
from messagehandler.channels.transactional.storage_queue import StorageQueueChannel
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


def all_ids(stored: dict[str, list[str]]) -> list[str]:
    return [event_id for stream in ("a", "b", "c") for event_id in stored[stream]]


def assert_typed(error: Exception, azurite: AzuriteProcess) -> None:
    assert isinstance(error, ServiceUnavailableError), repr(error)
    assert error.retryable
    key = azurite.connection_string.split("AccountKey=")[1].split(";")[0]
    assert key not in "".join(traceback.format_exception(error))


DELETE = b"DELETE "
CLEAR_CARRIED_OUT = [
    pytest.param({"fault": Fault.DROP_RESPONSE, "times": 2}, id="dropped answer"),
    pytest.param({"fault": Fault.CUT_RESPONSE, "cut_after": 20, "times": 2}, id="cut answer"),
    pytest.param({"fault": Fault.ERROR_AFTER, "status": 503}, id="503 after the delete"),
]
"""Faults after the delete was carried out; aiohttp sends a DELETE again once on a broken connection, hence two."""


@pytest.mark.parametrize("fault", CLEAR_CARRIED_OUT)
async def test_a_lost_answer_to_the_clear_is_reported_and_nothing_is_published_twice(
    relaying: Relaying, azurite: AzuriteProcess, fault: dict[str, Any]
) -> None:
    relaying.proxy.inject(match=DELETE, after=1, **fault)  # the clear of stream b

    report = await relaying.relay.run_once()

    assert (report.entries, report.published, report.cleared, report.failed) == (3, 6, 2, 1)
    (error,) = report.errors
    assert_typed(error, azurite)
    assert "clear the outbox row of Organization/b" in str(error)
    assert await relaying.outbox_rows() == []  # the delete was carried out: the entry is gone
    again = await relaying.relay.run_once()
    assert (again.entries, again.published) == (0, 0)
    assert [e.id for e in relaying.seen] == all_ids(relaying.stored)


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param({"fault": Fault.RESET_REQUEST, "times": 2}, id="reset request"),
        pytest.param({"fault": Fault.ERROR_BEFORE, "status": 503}, id="503 before the delete"),
    ],
)
async def test_a_clear_that_never_reached_the_store_leaves_the_entry_and_it_is_published_again_with_the_same_ids(
    relaying: Relaying, azurite: AzuriteProcess, fault: dict[str, Any]
) -> None:
    stored = relaying.stored
    relaying.proxy.inject(match=DELETE, after=1, **fault)

    report = await relaying.relay.run_once()

    assert (report.published, report.cleared, report.failed) == (6, 2, 1)
    assert_typed(report.errors[0], azurite)
    assert await relaying.outbox_rows() == ["b"]
    again = await relaying.relay.run_once()
    assert (again.entries, again.published, again.cleared, again.failed) == (1, 1, 1, 0)
    assert [e.id for e in relaying.seen] == all_ids(stored) + stored["b"]  # at least once: the same id again
    assert await relaying.outbox_rows() == []


OUTBOX_READ = b"outbox"
READ_LOST = [
    pytest.param({"fault": Fault.DROP_RESPONSE, "times": 2}, id="dropped answer"),
    pytest.param({"fault": Fault.CUT_RESPONSE, "cut_after": 20, "times": 2}, id="answer cut in its head"),
    pytest.param({"fault": Fault.CUT_RESPONSE, "cut_after": 700, "times": 2}, id="answer cut in its body"),
    pytest.param({"fault": Fault.ERROR_AFTER, "status": 500, "code": "InternalError"}, id="500 with a body"),
]


@pytest.mark.parametrize("fault", READ_LOST)
async def test_a_lost_answer_to_the_outbox_read_fails_the_pass_typed_and_the_next_publishes_each_once(
    relaying: Relaying, azurite: AzuriteProcess, fault: dict[str, Any]
) -> None:
    await relaying.source.load(ORG, "a")
    relaying.proxy.inject(match=OUTBOX_READ, **fault)

    with pytest.raises(ServiceUnavailableError, match="read the outbox of Organization") as raised:
        await relaying.relay.run_once()

    assert relaying.proxy.faulted
    assert_typed(raised.value, azurite)
    assert relaying.seen == []
    assert await relaying.outbox_rows() == ["a", "b", "c"]
    relaying.proxy.clear()
    report = await relaying.relay.run_once()
    assert (report.entries, report.published, report.cleared, report.failed) == (3, 6, 3, 0)
    assert [e.id for e in relaying.seen] == all_ids(relaying.stored)


@pytest.mark.parametrize("fault", READ_LOST)
async def test_a_lost_answer_to_a_streams_load_keeps_its_entry_and_publishes_it_once_next_pass(
    relaying: Relaying, azurite: AzuriteProcess, fault: dict[str, Any]
) -> None:
    stored = relaying.stored
    relaying.proxy.inject(match=b"b_0000000001", **fault)

    report = await relaying.relay.run_once()

    assert (report.entries, report.published, report.failed) == (3, 5, 1)
    assert_typed(report.errors[0], azurite)
    assert "load Organization/b" in str(report.errors[0])
    relaying.proxy.clear()
    again = await relaying.relay.run_once()
    assert (again.entries, again.published, again.failed) == (1, 1, 0)
    assert [e.id for e in relaying.seen] == stored["a"] + stored["c"] + stored["b"]
    assert await relaying.outbox_rows() == []


async def queued(azurite: AzuriteProcess, queue_name: str) -> list[dict[str, Any]]:
    """Every message on the queue, in queue order, as the structured CloudEvents the channel sent; read raw."""
    envelopes: list[dict[str, Any]] = []
    async with QueueClient.from_connection_string(azurite.connection_string, queue_name) as queue:
        while batch := [m async for m in queue.receive_messages(max_messages=32, visibility_timeout=60)]:
            envelopes.extend(json.loads(base64.b64decode(message.content)) for message in batch)
    return envelopes


@pytest.mark.parametrize(
    ("fault", "stored_before_failing"),
    [
        pytest.param({"fault": Fault.DROP_RESPONSE}, 2, id="answer to the second send dropped"),
        pytest.param({"fault": Fault.CUT_RESPONSE, "cut_after": 20}, 2, id="answer to the second send cut"),
        pytest.param({"fault": Fault.ERROR_AFTER, "status": 503}, 2, id="503 after the second send"),
        pytest.param({"fault": Fault.RESET_REQUEST}, 1, id="second send reset"),
        pytest.param({"fault": Fault.ERROR_BEFORE, "status": 500, "code": "InternalError"}, 1, id="500 before it"),
    ],
)
async def test_a_queue_failing_mid_publish_of_an_entry_loses_nothing_and_repeats_it_in_order_with_the_same_ids(
    stored: dict[str, list[str]],
    relay_source: AzureTableStorageEventSource,
    queue_proxy: FaultProxy,
    azurite: AzuriteProcess,
    raw_table: TableClient,
    fault: dict[str, Any],
    stored_before_failing: int,
) -> None:
    queue_name = f"q{uuid.uuid4().hex[:20]}"
    async with StorageQueueChannel.from_connection_string(
        queue_proxy.rewrite(azurite.connection_string), queue_name, retry_total=0
    ) as channel:
        relay = OutboxRelay(relay_source, Dispatcher().add_channel(channel).route(ORG).to(queue_name), min_age=STRANDED)
        queue_proxy.inject(match=b"POST ", after=4, **fault)  # sends: a1 a2 b1 c1 c2 (fails) ...

        report = await relay.run_once()

        assert (report.entries, report.published, report.cleared, report.failed) == (3, 3, 2, 1)
        (error,) = report.errors
        assert isinstance(error, ChannelUnavailableError)
        assert_typed(error, azurite)
        again = await relay.run_once()
        assert (again.entries, again.published, again.cleared, again.failed) == (1, 3, 1, 0)

    on_queue = await queued(azurite, queue_name)
    c = stored["c"]
    assert [e["id"] for e in on_queue] == stored["a"] + stored["b"] + c[:stored_before_failing] + c
    by_id: dict[str, list[dict[str, Any]]] = {}
    for envelope in on_queue:
        by_id.setdefault(envelope["id"], []).append(envelope)
    for copies in by_id.values():  # a repeat is the same event: same id, version and data
        assert {(e["streamversion"], json.dumps(e["data"], sort_keys=True)) for e in copies} == {
            (copies[0]["streamversion"], json.dumps(copies[0]["data"], sort_keys=True))
        }
    assert [row for row in [r async for r in raw_table.list_entities()] if row["RowKey"].startswith("$outbox_")] == []
