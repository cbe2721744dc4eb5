"""Checkpoints in Azure Table Storage, on Azurite: large documents, atomic replacement, damage detected."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
from azure.data.tables.aio import TableClient

from messagehandler.projections import CorruptCheckpointError, DurableReadModel, Projector, Start
from messagehandler.projections.table_store import TableCheckpointStore
from messagehandler.testing.azurite import AzuriteProcess
from samples.organization import OrganizationRegistered, OrganizationRenamed
from tests.projections.support import ORG, register

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
