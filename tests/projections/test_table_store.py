"""Checkpoints in Azure Table Storage, on Azurite: large documents, atomic replacement, damage detected."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import pytest
from azure.data.tables.aio import TableClient

from messagehandler import ServiceUnavailableError
from messagehandler.projections import CorruptCheckpointError, DurableReadModel, Projector, Start
from messagehandler.projections.table_store import TableCheckpointStore
from messagehandler.testing.azurite import AzuriteProcess
from samples.organization import OrganizationRegistered, OrganizationRenamed
from tests.projections.support import ORG, register
from tests.support.fault_proxy import Fault, FaultProxy

pytestmark = pytest.mark.azurite


@pytest.fixture
async def store(azurite: AzuriteProcess, table_name: str) -> AsyncIterator[TableCheckpointStore]:
    async with TableCheckpointStore.from_connection_string(azurite.connection_string, table_name) as store:
        yield store
        await store.client.delete_table()


async def test_a_document_larger_than_an_entity_round_trips_and_replaces_the_old_one(
    store: TableCheckpointStore,
) -> None:
    assert await store.read("model") is None
    big = os.urandom(700_000)  # incompressible: several chunk rows
    await store.write("model", big)
    await store.write("model", b"small")

    assert await store.read("model") == b"small"
    rows = [row["RowKey"] async for row in store.client.list_entities(select=["RowKey"])]
    assert len(rows) == 2  # the head and the one chunk row of the current generation


async def test_a_missing_chunk_is_reported_as_corrupt(store: TableCheckpointStore) -> None:
    await store.write("model", os.urandom(300_000))
    chunks = [row async for row in store.client.list_entities() if row["RowKey"] != "head"]
    chunk = chunks[-1]
    await store.client.delete_entity(chunk["PartitionKey"], chunk["RowKey"])

    with pytest.raises(CorruptCheckpointError, match="incomplete"):
        await store.read("model")


async def test_a_read_model_checkpointed_in_a_table(azurite: AzuriteProcess, store: TableCheckpointStore) -> None:
    from messagehandler import InMemoryEventSource
    from samples.organization.search import SearchEntry, SearchEntryProjection

    source = InMemoryEventSource()
    source.registry.register(OrganizationRegistered, OrganizationRenamed)
    await register(source, "acme")
    first = DurableReadModel(Projector(source, SearchEntryProjection), SearchEntry, ORG, store)
    await first.open()
    await first.save()
    await register(source, "globex")

    second = DurableReadModel(Projector(source, SearchEntryProjection), SearchEntry, ORG, store)
    opened = await second.open()

    assert (opened.start, opened.changed) == (Start.CHECKPOINT, {"globex"})
    assert set(second.records) == {"acme", "globex"}
    async with TableClient.from_connection_string(azurite.connection_string, store.client.table_name) as raw:
        assert (await raw.get_entity(first.name, "head"))["Rows"] == 1


@pytest.fixture
def proxied(table_proxy: FaultProxy, azurite: AzuriteProcess, store: TableCheckpointStore) -> TableCheckpointStore:
    """A second store on the same table whose requests go through the fault proxy; the SDK does not retry."""
    client = TableClient.from_connection_string(
        table_proxy.rewrite(azurite.connection_string), store.client.table_name, retry_total=0
    )
    return TableCheckpointStore(client, create_table=False)


def batches(proxy: FaultProxy) -> int:
    return sum("$batch" in line for line in proxy.requests)


@pytest.mark.parametrize(("size", "transactions"), [(1_000, 1), (1_500_000, 1), (5_000_000, 3)])
async def test_a_checkpoint_is_written_in_entity_group_transactions_not_a_request_per_row(
    proxied: TableCheckpointStore, table_proxy: FaultProxy, store: TableCheckpointStore, size: int, transactions: int
) -> None:
    data = os.urandom(size)
    assert await store.read("model") is None  # the table exists

    async with proxied:
        await proxied.write("model", data)

    assert batches(table_proxy) == transactions
    writes = [line for line in table_proxy.requests if line.split(" ")[0] in ("PUT", "PATCH", "MERGE")]
    assert writes == []
    assert await store.read("model") == data


async def test_a_save_elsewhere_while_reading_never_makes_the_reader_see_a_damaged_checkpoint(
    proxied: TableCheckpointStore, table_proxy: FaultProxy, store: TableCheckpointStore
) -> None:
    first, second, third = os.urandom(400_000), os.urandom(300_000), b"third"
    await store.write("model", first)
    table_proxy.inject(Fault.DELAY, match=b"RowKey%20gt", delay=1.5)  # the reader's query of the chunk rows

    async with proxied:
        reading = asyncio.create_task(proxied.read("model"))
        await until(lambda: bool(table_proxy.faulted))
        await store.write("model", second)  # deletes the rows the reader is about to read
        await store.write("model", third)
        assert await reading == third


async def test_a_save_that_fails_half_way_leaves_the_old_checkpoint_whole(
    proxied: TableCheckpointStore, table_proxy: FaultProxy, store: TableCheckpointStore
) -> None:
    old = os.urandom(100_000)
    await store.write("model", old)
    table_proxy.inject(Fault.RESET_REQUEST, match=b"$batch", after=1)  # the second of three transactions

    async with proxied:
        with pytest.raises(ServiceUnavailableError):
            await proxied.write("model", os.urandom(5_000_000))

    assert batches(table_proxy) == 2
    assert await store.read("model") == old


async def until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


async def test_concurrent_saves_leave_a_whole_checkpoint_and_orphans_are_swept_once_old(
    store: TableCheckpointStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A save deletes only the generation it replaced: rows another writer wrote for its coming head stay."""
    from messagehandler.projections import table_store

    documents = [os.urandom(100_000) for _ in range(6)]  # incompressible: four chunk rows each
    await asyncio.gather(*(store.write("model", document) for document in documents))
    assert await store.read("model") in documents
    in_flight = {"PartitionKey": "model", "RowKey": "f" * 32 + "_000000", "D0": b"coming"}
    await store.client.upsert_entity(in_flight)

    await store.write("model", b"next")
    assert await store.client.get_entity("model", in_flight["RowKey"]), "a young row of no head was deleted"

    monkeypatch.setattr(table_store, "ORPHAN_AGE", timedelta(0))
    await store.write("model", b"last")
    rows = [row["RowKey"] async for row in store.client.list_entities(select=["RowKey"])]
    assert len(rows) == 2, rows
    assert await store.read("model") == b"last"


class ResentHeadClient:
    """A client whose head-writing transaction is sent twice, as azure-core retries a `$batch` after a
    5xx answer even when the first attempt committed: the resend meets the head the first one wrote."""

    def __init__(self, inner: TableClient) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    async def submit_transaction(self, operations: list[tuple[object, ...]]) -> object:
        result = await self.inner.submit_transaction(operations)
        if any(operation[1].get("RowKey") == "head" for operation in operations):  # type: ignore[union-attr]
            return await self.inner.submit_transaction(operations)
        return result


@pytest.mark.parametrize("first", [False, True], ids=["replacing", "creating"])
async def test_a_conditional_write_whose_first_attempt_landed_keeps_its_rows(
    store: TableCheckpointStore, first: bool
) -> None:
    if not first:
        await store.write("model", b"before")
    _, tag = await store.read_tagged("model")
    resending = TableCheckpointStore(ResentHeadClient(store.client), create_table=False)  # type: ignore[arg-type]

    assert await resending.write_if("model", b"after", tag) is True
    assert await store.read("model") == b"after"
