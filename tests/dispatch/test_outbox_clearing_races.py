"""Deferred clears beside appends that keep coming: nothing waits for ever, nothing is published twice.

`cleared()` (and so `close()` and the relay's `pending()`) waits for the clears queued when it was
called, not for an empty queue, so writers that never stop cannot hold it up. A published entry is
taken by exactly one request at a time (a fold, a carried delete, a batch); an append to its stream
waits for that request and then folds the entry or creates the row, so it never extends a published
row and publishes its range again. Deliveries are counted by an in-process subscriber; the store's
rows with the SDK's own client.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from azure.data.tables.aio import TableClient

from messagehandler import AggregateRepository
from messagehandler.channels import CloudEvent
from messagehandler.channels.dispatcher import Dispatcher
from messagehandler.channels.relay import OutboxRelay
from messagehandler.channels.volatile import InProcessChannel
from messagehandler.eventsource.azure_tables import AzureTableStorageEventSource
from messagehandler.eventsource.azure_tables.sharding import MAX_SHARDS, partition_key
from messagehandler.eventsource.outbox import OutboxEntry
from messagehandler.testing import RequestLog
from messagehandler.testing.azurite import AzuriteProcess
from samples.organization import Organization
from tests.support.fault_proxy import Fault, FaultProxy

pytestmark = pytest.mark.azurite

ORG = "Organization"
DEADLINE = 60.0
"""A bound on waits that return at once with the fix and never without it."""


@dataclass
class Writing:
    source: AzureTableStorageEventSource
    dispatcher: Dispatcher
    seen: list[CloudEvent]
    log: RequestLog
    proxy: FaultProxy
    table: TableClient

    async def flush(self, stream_id: str, name: str) -> None:
        repository = AggregateRepository(self.source, dispatcher=self.dispatcher)
        org = await repository.get(Organization, stream_id)
        if org.registered:
            org.rename(name)
        else:
            org.register(name)
            repository.add(org)
        await repository.flush()

    async def outbox_rows(self) -> list[str]:
        return [row["RowKey"] async for row in self.table.list_entities() if row["RowKey"].startswith("$outbox_")]

    async def published_once(self) -> None:
        """Every stored event was delivered exactly once, and no outbox row is left."""
        await self.source.cleared()
        stored = [
            row["EventId"]
            async for row in self.table.list_entities()
            if "EventId" in row and not row["RowKey"].startswith("$")
        ]
        assert sorted(e.id for e in self.seen) == sorted(stored)
        assert await self.outbox_rows() == []


@contextlib.asynccontextmanager
async def _writing(
    proxy: FaultProxy, azurite: AzuriteProcess, table_name: str, raw_table: TableClient, **options: Any
) -> AsyncIterator[Writing]:
    channel = InProcessChannel("live")
    seen: list[CloudEvent] = []

    async def record(envelope: CloudEvent) -> None:
        seen.append(envelope)

    channel.subscribe(record)
    dispatcher = Dispatcher().add_channel(channel).route(ORG).to("live")
    log = RequestLog()
    source = AzureTableStorageEventSource.from_connection_string(
        proxy.rewrite(azurite.connection_string), table_name, outbox=True, raw_request_hook=log, **options
    )
    source.registry.register(*Organization.handled_event_types())
    await source.load(ORG, "warm-up")  # creates the table
    log.clear()
    try:
        yield Writing(source, dispatcher, seen, log, proxy, raw_table)
    finally:
        await raw_table.delete_table()
        await source.close()


@pytest.fixture
async def writing(
    table_proxy: FaultProxy, azurite: AzuriteProcess, table_name: str, raw_table: TableClient
) -> AsyncIterator[Writing]:
    async with _writing(table_proxy, azurite, table_name, raw_table) as created:
        yield created


@pytest.fixture
async def spread(
    table_proxy: FaultProxy, azurite: AzuriteProcess, table_name: str, raw_table: TableClient
) -> AsyncIterator[Writing]:
    """Streams spread over many partitions: an append seldom meets a published entry it could fold or carry."""
    async with _writing(table_proxy, azurite, table_name, raw_table, shards=MAX_SHARDS) as created:
        yield created


@contextlib.asynccontextmanager
async def writers_running(writing: Writing, count: int = 3) -> AsyncIterator[asyncio.Event]:
    """Writers flushing new streams without pause until the block ends; yields an event set once they run."""
    stop, running = asyncio.Event(), asyncio.Event()
    flushed = 0

    async def write(n: int) -> None:
        nonlocal flushed
        i = 0
        while not stop.is_set():
            i += 1
            try:
                await writing.flush(f"w{n}-{i}", "W")
            except Exception:  # the source was closed under it
                return
            flushed += 1
            if flushed >= 2 * count:
                running.set()

    tasks = [asyncio.create_task(write(n)) for n in range(count)]
    await asyncio.wait_for(running.wait(), DEADLINE)
    try:
        yield stop
    finally:
        stop.set()
        await asyncio.gather(*tasks)


async def test_cleared_returns_while_other_tasks_keep_flushing(spread: Writing) -> None:
    writing = spread
    async with writers_running(writing) as stop:
        await asyncio.wait_for(writing.source.cleared(), DEADLINE)
        assert not stop.is_set()  # the writers were still at it
    await writing.published_once()


async def test_a_relay_pass_beside_busy_writers_does_not_stall_in_pending(spread: Writing) -> None:
    writing = spread
    relay = OutboxRelay(writing.source, writing.dispatcher)
    async with writers_running(writing) as stop:
        report = await asyncio.wait_for(relay.run_once(), DEADLINE)
        assert not stop.is_set()
    assert report.published == 0  # what it found was young: the writers' own flushes publish it
    await writing.published_once()


async def test_close_returns_under_continuous_writes(spread: Writing) -> None:
    writing = spread
    async with writers_running(writing) as stop:
        await asyncio.wait_for(writing.source.close(), DEADLINE)
        assert not stop.is_set()
        assert writing.source._outbox_rows._task is None, "no clearing goes on after close"


async def test_cleared_returns_after_the_clearing_task_was_cancelled(writing: Writing) -> None:
    writing.proxy.inject(Fault.DELAY, match=b"$batch", times=1, delay=1.0)
    await writing.flush("a", "A")
    rows = writing.source._outbox_rows
    clearing = rows._task
    assert clearing is not None
    clearing.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await clearing

    await asyncio.wait_for(rows.cleared(), DEADLINE)
    await writing.published_once()


async def _sent(log: RequestLog, count: int) -> None:
    deadline = asyncio.get_running_loop().time() + DEADLINE
    while log.count < count:
        assert asyncio.get_running_loop().time() < deadline, "the request was never sent"
        await asyncio.sleep(0.001)


async def test_an_append_to_a_stream_whose_delete_another_append_carries_waits_for_it(writing: Writing) -> None:
    await writing.flush("a", "A")  # a's clear waits for the next append of the partition
    writing.proxy.inject(Fault.DELAY, match=b"$batch", times=1, delay=1.0)  # b's append, carrying a's delete
    b = asyncio.create_task(writing.flush("b", "B"))
    await _sent(writing.log, writing.log.count + 2)  # b's load, then b's transaction

    await writing.flush("a", "A NV")  # without waiting: create, refused, read, extend a's published row
    await b

    assert "point read" not in writing.log.kinds()
    assert [e.stream_version for e in writing.seen if e.subject == "Organization/a"] == [1, 2]
    await writing.published_once()


async def test_an_append_cancelled_while_carrying_deletes_gives_them_back(writing: Writing) -> None:
    await writing.flush("a", "A")
    writing.proxy.inject(Fault.DELAY, match=b"$batch", times=1, delay=1.0)
    b = asyncio.create_task(writing.flush("b", "B"))
    await _sent(writing.log, writing.log.count + 2)

    b.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await b
    await writing.flush("a", "A NV")  # folds a's entry given back, or creates the row b deleted

    assert "point read" not in writing.log.kinds()
    assert [e.stream_version for e in writing.seen if e.subject == "Organization/a"] == [1, 2]
    await writing.published_once()
    report = await OutboxRelay(writing.source, writing.dispatcher, min_age=timedelta(0)).run_once()
    assert report.entries == 0


async def test_a_batch_takes_the_entries_of_every_partition_before_its_first_delete(
    table_proxy: FaultProxy, azurite: AzuriteProcess, table_name: str, raw_table: TableClient
) -> None:
    async with _writing(table_proxy, azurite, table_name, raw_table, shards=2) as writing:
        first = "a"
        second = next(s for s in (f"s{n}" for n in range(100)) if _shard(s) != _shard(first))
        await writing.flush(first, "First")
        await writing.flush(second, "Second")  # another partition: it carries no delete of the first
        writing.proxy.inject(Fault.DELAY, match=b"$batch", times=1, delay=1.0)  # the batch of the first's partition
        clearing = asyncio.create_task(writing.source.cleared())
        await _sent(writing.log, writing.log.count + 1)

        await writing.flush(second, "Second NV")  # its entry waits in the same round: the append waits for it
        await clearing

        assert "point read" not in writing.log.kinds()
        assert [e.stream_version for e in writing.seen if e.subject == f"Organization/{second}"] == [1, 2]
        await writing.published_once()


def _shard(stream_id: str) -> str:
    return partition_key(ORG, stream_id, 2)


async def test_a_given_back_entry_does_not_replace_a_newer_one_queued_meanwhile(writing: Writing) -> None:
    outbox = writing.source._outbox_rows
    older = OutboxEntry(ORG, "a", 1, 1, "older")
    newer = OutboxEntry(ORG, "a", 1, 2, "newer")
    outbox.clear_later(older)
    partition = outbox._key(older)[0]
    [taken] = outbox.riders(partition, "b", 10)
    outbox.clear_later(newer)

    outbox.give_back(taken)

    assert [clear.entry for clear in outbox._queued.values()] == [newer]
    assert outbox._taken == {}
    await asyncio.wait_for(outbox.cleared(), DEADLINE)
