"""The outbox off the flush's critical path: the clear after publishing is deferred, batched, or folded away.

A flush with the outbox is still one request on Table Storage: the append's transaction carries the
outbox row; publishing follows the commit; the row is deleted afterwards in a batch, or replaced by
the stream's next append in its own transaction. Requests are counted with the SDK's request hook.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from azure.data.tables import TableClient as SyncTableClient
from azure.data.tables import UpdateMode

from messagehandler import AggregateRepository
from messagehandler.channels import CloudEvent
from messagehandler.channels.dispatcher import Dispatcher
from messagehandler.channels.volatile import InProcessChannel
from messagehandler.eventsource.azure_tables import AzureTableStorageEventSource
from messagehandler.testing import RequestLog
from messagehandler.testing.azurite import AzuriteProcess
from samples.organization import Organization
from tests.support.fault_proxy import Fault, FaultProxy

pytestmark = pytest.mark.azurite

ORG = "Organization"


@pytest.fixture
def log() -> RequestLog:
    return RequestLog()


@pytest.fixture
async def source(
    make_table_source: Callable[..., AzureTableStorageEventSource], log: RequestLog
) -> AzureTableStorageEventSource:
    created = make_table_source(outbox=True, raw_request_hook=log)
    await created.load(ORG, "warm-up")  # creates the table
    log.clear()
    return created


def wired(source: AzureTableStorageEventSource) -> tuple[Dispatcher, list[CloudEvent]]:
    channel = InProcessChannel("live")
    seen: list[CloudEvent] = []

    async def record(envelope: CloudEvent) -> None:
        seen.append(envelope)

    channel.subscribe(record)
    return Dispatcher().add_channel(channel).route(ORG).to("live"), seen


def registering(
    source: AzureTableStorageEventSource, dispatcher: Dispatcher, stream_id: str, name: str
) -> tuple[AggregateRepository, Organization]:
    """A unit of work holding a new organization, registered and not flushed yet."""
    repository = AggregateRepository(source, dispatcher=dispatcher)
    org = Organization(stream_id)
    org.register(name)
    repository.add(org)
    return repository, org


async def pending(source: AzureTableStorageEventSource) -> list[tuple[str, int, int]]:
    return [(e.stream_id, e.from_version, e.to_version) async for e in source.pending(ORG)]


async def test_a_flush_returns_before_its_outbox_row_is_cleared(
    source: AzureTableStorageEventSource, log: RequestLog
) -> None:
    dispatcher, seen = wired(source)
    repository, _org = registering(source, dispatcher, "acme", "Acme")

    await repository.flush()

    assert log.kinds() == ["transaction"]  # the append; publishing happened, the delete has not been sent
    assert [e.stream_version for e in seen] == [1]
    await source.cleared()
    assert log.kinds() == ["transaction", "transaction"]  # the delete, in a transaction of its own
    assert await pending(source) == []


async def test_the_next_append_folds_the_clear_into_its_own_transaction(
    source: AzureTableStorageEventSource, log: RequestLog
) -> None:
    dispatcher, seen = wired(source)
    repository, org = registering(source, dispatcher, "acme", "Acme")

    await repository.flush()
    for n in range(3):
        org.rename(f"Acme {n}")
        await repository.flush()

    assert log.kinds() == ["transaction"] * 4  # four appends, no delete, no read
    await source.cleared()
    assert log.kinds() == ["transaction"] * 5  # one delete, for the last entry only
    assert [e.stream_version for e in seen] == [1, 2, 3, 4]
    assert await pending(source) == []


async def test_clears_of_many_flushes_share_their_transactions(
    source: AzureTableStorageEventSource, log: RequestLog
) -> None:
    dispatcher, seen = wired(source)

    async def register(n: int) -> None:
        repository = AggregateRepository(source, dispatcher=dispatcher)
        org = Organization(f"org-{n:02d}")
        org.register(f"Org {n}")
        repository.add(org)
        await repository.flush()

    await asyncio.gather(*(register(n) for n in range(30)))
    await source.cleared()

    transactions = log.kinds().count("transaction")
    assert 30 < transactions <= 40  # 30 appends, and their 30 deletes in a few batches
    assert len(seen) == 30
    assert await pending(source) == []


async def test_a_fold_that_meets_a_changed_row_extends_it_and_loses_nothing(
    source: AzureTableStorageEventSource, log: RequestLog, azurite: AzuriteProcess, table_name: str
) -> None:
    dispatcher, seen = wired(source)
    repository, org = registering(source, dispatcher, "acme", "Acme")
    await repository.flush()
    # Another writer touches the row before the queued clear is sent: a blocking client, so that this
    # process's event loop (and its clear) does not run meanwhile.
    with SyncTableClient.from_connection_string(azurite.connection_string, table_name) as other:
        other.update_entity(other.get_entity(ORG, "$outbox_acme"), mode=UpdateMode.MERGE)

    org.rename("Acme NV")
    await repository.flush()

    # the folded update failed on the new ETag; the append read the row and extended it, and the
    # dispatcher loaded version 1 to publish the whole range
    assert log.kinds() == ["transaction", "transaction", "point read", "transaction", "query"]
    assert [e.stream_version for e in seen] == [1, 1, 2]  # version 1 again: at least once, in order
    assert await pending(source) == []


async def test_an_append_waits_for_its_streams_delete_in_flight_instead_of_racing_it(
    azurite: AzuriteProcess, table_name: str, table_proxy: FaultProxy, log: RequestLog
) -> None:
    async with AzureTableStorageEventSource.from_connection_string(
        table_proxy.rewrite(azurite.connection_string), table_name, outbox=True, raw_request_hook=log
    ) as source:
        dispatcher, seen = wired(source)
        repository = AggregateRepository(source, dispatcher=dispatcher)
        org = Organization("acme")
        org.register("Acme")
        repository.add(org)
        await repository.flush()
        table_proxy.inject(Fault.DELAY, match=b"$batch", times=1, delay=0.3)  # the delete, once sent
        await _until(lambda: log.count == 3)  # the clear's transaction left (table creation, append, delete)

        org.rename("Acme NV")
        await repository.flush()

        assert log.kinds()[1:] == ["transaction", "transaction", "transaction"]  # append, delete, append: no read
        await source.cleared()
        assert [e.stream_version for e in seen] == [1, 2]
        assert await pending(source) == []
        await source.table_client.delete_table()


async def _until(condition: Callable[[], Any], within: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "the condition never held"
        await asyncio.sleep(0.001)


async def test_an_append_to_another_stream_carries_the_delete_in_its_transaction(
    source: AzureTableStorageEventSource, log: RequestLog
) -> None:
    dispatcher, seen = wired(source)
    for stream_id in ("a", "b"):
        repository = AggregateRepository(source, dispatcher=dispatcher)
        org = Organization(stream_id)
        org.register(stream_id)
        repository.add(org)
        await repository.flush()

    assert log.kinds() == ["transaction", "transaction"]  # b's append deleted a's published row
    await source.cleared()
    assert log.kinds() == ["transaction"] * 3  # then b's own row, in a batch
    assert [e.subject for e in seen] == ["Organization/a", "Organization/b"]
    assert await pending(source) == []


async def test_a_carried_delete_of_a_changed_row_is_dropped_and_the_append_sent_again(
    source: AzureTableStorageEventSource, log: RequestLog, azurite: AzuriteProcess, table_name: str
) -> None:
    dispatcher, seen = wired(source)
    repository, _first = registering(source, dispatcher, "a", "A")
    await repository.flush()
    with SyncTableClient.from_connection_string(azurite.connection_string, table_name) as other:
        other.update_entity(other.get_entity(ORG, "$outbox_a"), mode=UpdateMode.MERGE)  # a's row changed
    second = AggregateRepository(source, dispatcher=dispatcher)
    org = Organization("b")
    org.register("B")
    second.add(org)

    await second.flush()

    assert log.kinds() == ["transaction"] * 3  # a's append, b's append with a's delete (refused), b's again
    assert [e.metadata.version for e in await source.load(ORG, "b")] == [1]
    assert [e.subject for e in seen] == ["Organization/a", "Organization/b"]
    assert await pending(source) == [("a", 1, 1)]  # whoever changed a's row publishes it; nothing lost
