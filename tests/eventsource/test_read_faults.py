"""Every read path of the Table Storage source through a proxy that fails as networks and services fail.

Each reader meets each fault on its first request and on a later page: a dropped answer, an answer
cut in its head or in its body, a reset request, a request held beyond the read timeout, and a 500 or
503 with an error body. Each scenario asserts that the caller gets a typed, retryable error of the
one error model (no SDK or transport type escapes, no account key in the message, the cause chain or
the traceback), that what the reader handed out before the failure was whole (a paging read never
yields a stream it has read only part of), and that once the proxy is healthy the same reader gives
every stream exactly once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel, Field

from messagehandler import (
    AggregateRepository,
    EventTypeRegistry,
    JsonEventSerializer,
    MessageHandlerError,
    ServiceUnavailableError,
)
from messagehandler.eventsource.azure_tables import AzureTableStorageEventSource
from messagehandler.eventsource.positions import TypePosition, catch_up
from messagehandler.processing import MemoryPositionStore
from messagehandler.processing.sources import CatchUpReceiver
from messagehandler.projections import Projection, Projector
from messagehandler.testing.azurite import AzuriteProcess
from samples.organization.domain import OrganizationRegistered, OrganizationRenamed
from tests.eventsource.azure_tables_support import ALL_TYPES, ORG, history
from tests.repository.counter import COUNTER, Added, Counter
from tests.support.errors import account_key, assert_model_chain_without
from tests.support.fault_proxy import Fault, FaultProxy

pytestmark = pytest.mark.azurite

GET = b"GET "
STREAMS = {"a": 3, "b": 5, "c": 1, "d": 4}
"""Streams of the type read in bulk and their lengths: with two rows a page, most span several pages."""
PAGE = 2
COUNTS = 12
"""Events of the snapshotted counter: a snapshot at version 10 and a tail of two."""

Item = tuple[str, Any]
Reader = Callable[[AzureTableStorageEventSource], AsyncIterator[Item]]


class Seen(BaseModel):
    ids: list[str] = Field(default_factory=list)


class SeenIds(Projection[Seen]):
    def project_registered(self, record: Seen, event: OrganizationRegistered) -> None:
        record.ids.append(event.metadata.event_id)

    def project_renamed(self, record: Seen, event: OrganizationRenamed) -> None:
        record.ids.append(event.metadata.event_id)


async def load(source: AzureTableStorageEventSource) -> AsyncIterator[Item]:
    yield "b", [e.metadata.event_id for e in await source.load(ORG, "b")]


async def read_type(source: AzureTableStorageEventSource) -> AsyncIterator[Item]:
    async for stream in source.read_type(ORG):
        yield stream.stream_id, [e.metadata.event_id for e in stream.events]


async def read_changes(source: AzureTableStorageEventSource) -> AsyncIterator[Item]:
    async for stream in source.read_changes(ORG, datetime.now(UTC) - timedelta(hours=1)):
        yield stream.stream_id, [e.metadata.event_id for e in stream.events]


async def stream_ids(source: AzureTableStorageEventSource) -> AsyncIterator[Item]:
    async for stream_id in source.stream_ids(ORG):
        yield stream_id, None


async def snapshot_load(source: AzureTableStorageEventSource) -> AsyncIterator[Item]:
    counter = await AggregateRepository(source).get(Counter, "c")
    yield "c", (counter.version, counter.total)


async def catch_up_feed(source: AzureTableStorageEventSource) -> AsyncIterator[Item]:
    async for stream in catch_up(source, ORG, TypePosition(), margin=timedelta(0)):
        yield stream.stream_id, [e.metadata.event_id for e in stream.events]


async def restore(source: AzureTableStorageEventSource) -> AsyncIterator[Item]:
    for stream_id, record in (await Projector(source, SeenIds).restore(Seen, ORG)).items():
        yield stream_id, record.ids


async def restore_one(source: AzureTableStorageEventSource) -> AsyncIterator[Item]:
    record = await Projector(source, SeenIds).restore(Seen, ORG, "d")
    assert record is not None
    yield "d", record.ids


READERS: list[Reader] = [load, read_type, read_changes, stream_ids, snapshot_load, catch_up_feed, restore, restore_one]

FAULTS = [
    pytest.param({"fault": Fault.DROP_RESPONSE, "times": 2}, id="dropped response"),
    pytest.param({"fault": Fault.CUT_RESPONSE, "cut_after": 20, "times": 2}, id="cut in the head"),
    pytest.param({"fault": Fault.CUT_RESPONSE, "cut_after": 900, "times": 2}, id="cut in the body"),
    pytest.param({"fault": Fault.RESET_REQUEST, "times": 2}, id="reset request"),
    pytest.param({"fault": Fault.DELAY, "delay": 2.5}, id="held beyond the timeout"),
    pytest.param({"fault": Fault.ERROR_AFTER, "status": 503, "code": "ServerBusy"}, id="503 with a body"),
    pytest.param({"fault": Fault.ERROR_AFTER, "status": 500, "code": "InternalError"}, id="500 with a body"),
]
"""aiohttp sends an idempotent GET again once when a reused connection breaks, hence two of each such fault."""


@pytest.fixture
async def stored(azurite: AzuriteProcess, table_name: str) -> AsyncIterator[dict[str, dict[str, Any]]]:
    """The streams every reader reads, written directly; what each reader must give, whole, by reader name."""
    async with AzureTableStorageEventSource.from_connection_string(
        azurite.connection_string, table_name, registry=EventTypeRegistry((*ALL_TYPES, Added))
    ) as writer:
        ids: dict[str, list[str]] = {}
        for stream_id, count in STREAMS.items():
            events = history(stream_id, count)
            await writer.append(ORG, stream_id, 0, events)
            ids[stream_id] = [e.metadata.event_id for e in events]
        repository = AggregateRepository(writer)
        counter = await repository.get(Counter, "c")
        for amount in range(1, COUNTS + 1):
            counter.add(amount)
            await repository.flush()
        assert await writer.read_snapshot(COUNTER, "c") is not None
        whole = {
            load.__name__: {"b": ids["b"]},
            stream_ids.__name__: dict.fromkeys(ids),
            snapshot_load.__name__: {"c": (COUNTS, sum(range(1, COUNTS + 1)))},
            restore_one.__name__: {"d": ids["d"]},
        }
        for bulk in (read_type, read_changes, catch_up_feed, restore):
            whole[bulk.__name__] = ids
        yield whole
        await writer.table_client.delete_table()


@pytest.fixture
async def reading(
    table_proxy: FaultProxy, azurite: AzuriteProcess, table_name: str, stored: dict[str, Any]
) -> AsyncIterator[AzureTableStorageEventSource]:
    """A source through the proxy, two rows a page, no SDK retries, a one-second read timeout."""
    async with AzureTableStorageEventSource.from_connection_string(
        table_proxy.rewrite(azurite.connection_string),
        table_name,
        registry=EventTypeRegistry((*ALL_TYPES, Added)),
        page_size=PAGE,
        retry_total=0,
        connection_timeout=2,
        read_timeout=1,
    ) as source:
        yield source


async def collect(reader: Reader, source: AzureTableStorageEventSource, into: list[Item]) -> None:
    """Read into `into`, so what was handed out before a failure can be looked at after it."""
    async for item in reader(source):
        into.append(item)


def assert_typed_and_secret_free(error: BaseException, key: str) -> None:
    """A retryable service error of the one model whose chain holds only redacted causes, and no key anywhere."""
    assert isinstance(error, ServiceUnavailableError), repr(error)
    assert error.retryable
    assert_model_chain_without(error, key)


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("after", [0, 1], ids=["first request", "later request"])
@pytest.mark.parametrize("reader", READERS, ids=lambda reader: reader.__name__)
async def test_a_failed_read_is_typed_hands_out_nothing_partial_and_reads_whole_once_healthy(
    reading: AzureTableStorageEventSource,
    table_proxy: FaultProxy,
    azurite: AzuriteProcess,
    stored: dict[str, dict[str, Any]],
    reader: Reader,
    fault: dict[str, Any],
    after: int,
) -> None:
    whole = stored[reader.__name__]
    await reading.load(ORG, "none")  # the table is known to exist: the reader's own requests meet the fault
    table_proxy.inject(match=GET, after=after, **fault)
    handed_out: list[Item] = []

    with pytest.raises(MessageHandlerError) as raised:  # its class and its whole chain are asserted below
        await collect(reader, reading, handed_out)

    assert table_proxy.faulted, "the fault was not met"
    assert_typed_and_secret_free(raised.value, account_key(azurite.connection_string))
    if fault.get("cut_after") == 900:
        assert "IncompleteReadError" in str(raised.value)  # the body really was cut short
    for stream_id, value in handed_out:
        assert whole[stream_id] == value, f"{stream_id} was handed out partial"
    table_proxy.clear()
    healed = [item async for item in reader(reading)]
    assert sorted(stream_id for stream_id, _ in healed) == sorted(whole)
    assert dict(healed) == whole


@pytest.mark.parametrize("fault", FAULTS)
async def test_the_catch_up_receiver_delivers_every_event_once_across_a_failed_read(
    reading: AzureTableStorageEventSource,
    table_proxy: FaultProxy,
    azurite: AzuriteProcess,
    stored: dict[str, dict[str, Any]],
    fault: dict[str, Any],
) -> None:
    receiver = CatchUpReceiver(
        reading, ORG, JsonEventSerializer(reading.registry), MemoryPositionStore(), margin=timedelta(0)
    )
    await reading.load(ORG, "none")
    table_proxy.inject(match=GET, after=1, **fault)
    delivered: list[str] = []

    with pytest.raises(ServiceUnavailableError) as raised:
        await receiver.receive(64, wait=timedelta(0))

    assert_typed_and_secret_free(raised.value, account_key(azurite.connection_string))
    table_proxy.clear()
    while batch := await receiver.receive(64, wait=timedelta(0)):
        for message in batch:
            delivered.append(message.envelope.id)
            await message.complete()
    expected = [event_id for ids in stored[read_type.__name__].values() for event_id in ids]
    assert sorted(delivered) == sorted(expected)


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("reader", [read_type, read_changes, catch_up_feed], ids=lambda reader: reader.__name__)
async def test_a_bulk_read_failing_midway_has_handed_out_the_streams_it_finished_and_no_other(
    reading: AzureTableStorageEventSource,
    table_proxy: FaultProxy,
    stored: dict[str, dict[str, Any]],
    reader: Reader,
    fault: dict[str, Any],
) -> None:
    whole = stored[reader.__name__]
    await reading.load(ORG, "none")
    table_proxy.inject(match=GET, after=3, **fault)  # pages: a1 a2 | a3 b1 | b2 b3 | b4 b5 (fails) | ...
    handed_out: list[Item] = []

    with pytest.raises(ServiceUnavailableError):
        await collect(reader, reading, handed_out)

    assert handed_out == [("a", whole["a"])]  # b had three of its five rows read: not handed out
