"""Rows another tool wrote that cannot be read: named by table, partition and row key; skipped only by policy."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from azure.data.tables.aio import TableClient

from messagehandler import ConcurrencyError, SerializationError, SkipBadRows, UnreadableEventError
from messagehandler.eventsource.azure_tables import AzureTableStorageEventSource
from messagehandler.eventsource.azure_tables.sharding import partition_key
from tests.eventsource.azure_tables_support import ALL_TYPES, ORG, history

pytestmark = pytest.mark.azurite

MakeSource = Callable[..., AzureTableStorageEventSource]


def broken_row(partition: str, row_key: str, **columns: object) -> dict[str, object]:
    """A row in the event layout that lacks EventType, as a careless tool might write it."""
    return {"PartitionKey": partition, "RowKey": row_key, "Body": "{}", "Version": 2, **columns}


async def read(source: AzureTableStorageEventSource, bad_rows: SkipBadRows | None = None) -> dict[str, int]:
    return {s.stream_id: s.version async for s in source.read_type(ORG, bad_rows=bad_rows)}


@pytest.mark.parametrize("shards", [1, 3])
async def test_a_broken_row_is_named_and_its_stream_skipped_by_policy(
    make_table_source: MakeSource, raw_table: TableClient, shards: int
) -> None:
    source = make_table_source(shards=shards)
    source.registry.register(*ALL_TYPES)
    for stream_id, count in (("a", 3), ("a_0000000001", 2), ("b", 1)):
        await source.append(ORG, stream_id, 0, history(stream_id, count))
    pk = partition_key(ORG, "a", shards)
    await raw_table.delete_entity(pk, "a_0000000002")
    await raw_table.create_entity(broken_row(pk, "a_0000000002", SourceId="a"))

    with pytest.raises(UnreadableEventError) as raised:
        await read(source)

    error = raised.value
    assert (error.partition_key, error.row_key, error.stream, error.version) == (pk, "a_0000000002", f"{ORG}/a", 2)
    assert f"table {source.table_name!r}" in str(error)
    assert "has no EventId column" in error.reason
    bad_rows = SkipBadRows()
    assert await read(source, bad_rows) == {"a_0000000001": 2, "b": 1}  # the id that extends "a" is not lost
    assert [e.row_key for e in bad_rows.skipped] == ["a_0000000002"]


async def test_a_row_of_no_stream_is_skipped_alone(make_table_source: MakeSource, raw_table: TableClient) -> None:
    source = make_table_source()
    source.registry.register(*ALL_TYPES)
    await source.append(ORG, "a", 0, history("a", 2))
    await raw_table.create_entity({"PartitionKey": ORG, "RowKey": "junk", "Note": "written by hand"})
    bad_rows = SkipBadRows()

    assert await read(source, bad_rows) == {"a": 2}
    (skipped,) = bad_rows.skipped
    assert (skipped.row_key, skipped.stream, skipped.version) == ("junk", None, None)
    assert "row 'Organization'/'junk'" in str(skipped)


async def test_load_tells_a_broken_row_of_its_own_stream_from_one_of_an_id_that_extends_it(
    make_table_source: MakeSource, raw_table: TableClient
) -> None:
    source = make_table_source()
    source.registry.register(*ALL_TYPES)
    await source.append(ORG, "a", 0, history("a", 2))
    await raw_table.create_entity({"PartitionKey": ORG, "RowKey": "a_0000000001_0000000001", "Body": "{}"})

    assert [e.metadata.version for e in await source.load(ORG, "a")] == [1, 2]  # the other stream's row is not read
    await raw_table.create_entity({"PartitionKey": ORG, "RowKey": "a_0000000003", "Body": "{}"})
    with pytest.raises(SerializationError, match="a_0000000003"):
        await source.load(ORG, "a")
    with pytest.raises(ConcurrencyError) as raised:
        await source.append(ORG, "a", 1, history("a", 1, start_version=2))
    assert raised.value.actual_version == 3
