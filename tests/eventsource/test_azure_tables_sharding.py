"""Sharding spreads the streams of a type over partitions by a stable hash; reads merge every shard."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from azure.data.tables.aio import TableClient

from messagehandler import ConfigurationError
from messagehandler.eventsource.azure_tables import AzureTableStorageEventSource
from messagehandler.eventsource.azure_tables.merge import merge
from messagehandler.eventsource.azure_tables.sharding import partition_key, shard_of
from tests.eventsource.azure_tables_support import ALL_TYPES, ORG, history, raw_rows

MakeSource = Callable[..., AzureTableStorageEventSource]


def test_the_shard_of_an_id_never_changes() -> None:
    # Fixed values: a different hash would orphan every stored row.
    assert [shard_of(stream_id, 16) for stream_id in ("acme", "globex", "ünïcødé")] == [1, 10, 9]
    assert (shard_of("acme", 10), shard_of("globex", 10), shard_of("x", 99)) == (5, 0, 69)
    assert partition_key(ORG, "acme", 1) == ORG
    assert partition_key(ORG, "acme", 16) == f"{ORG}-01"
    assert {shard_of(f"id-{n}", 8) for n in range(200)} == set(range(8))


@pytest.mark.azurite
async def test_sharded_streams_spread_and_read_back_whole(
    make_table_source: MakeSource, raw_table: TableClient
) -> None:
    source = make_table_source(shards=4, page_size=5)
    source.registry.register(*ALL_TYPES)
    sizes = {f"org-{n:02d}": 1 + n % 3 for n in range(40)}
    for stream_id, size in sizes.items():
        await source.append(ORG, stream_id, 0, history(stream_id, size))

    rows = await raw_rows(raw_table)
    streams = {s.stream_id: [e.metadata.version for e in s.events] async for s in source.read_type(ORG)}

    assert {row["PartitionKey"] for row in rows} == {f"{ORG}-0{n}" for n in range(4)}
    assert all(row["PartitionKey"] == partition_key(ORG, row["SourceId"], 4) for row in rows)
    assert streams == {stream_id: list(range(1, size + 1)) for stream_id, size in sizes.items()}
    assert sorted([i async for i in source.stream_ids(ORG)]) == sorted(sizes)
    assert len(await source.load(ORG, "org-05")) == sizes["org-05"]


@pytest.mark.parametrize("shards", [0, 100, 1.5, True])
def test_shards_out_of_range_are_refused(azurite_free_source: Callable[..., object], shards: object) -> None:
    with pytest.raises(ConfigurationError, match="shards"):
        azurite_free_source(shards=shards)


@pytest.fixture
def azurite_free_source() -> Callable[..., object]:
    def make(**options: object) -> object:
        return AzureTableStorageEventSource.from_connection_string(
            "AccountName=a;AccountKey=a2V5;TableEndpoint=http://127.0.0.1:1/a", "events", **options
        )

    return make


async def numbers(start: int, count: int, *, fail_at: int | None = None) -> AsyncIterator[int]:
    for n in range(start, start + count):
        if n == fail_at:
            raise ValueError(f"boom at {n}")
        await asyncio.sleep(0)
        yield n


async def test_merge_yields_every_item_of_every_source() -> None:
    merged = [n async for n in merge([numbers(0, 50), numbers(100, 30), numbers(200, 0)], buffer=1)]

    assert sorted(merged) == [*range(50), *range(100, 130)]


async def test_merge_fails_when_a_source_fails_and_stops_the_others() -> None:
    before = len(asyncio.all_tasks())

    with pytest.raises(ValueError, match="boom at 105"):
        _ = [n async for n in merge([numbers(0, 10_000), numbers(100, 30, fail_at=105)], buffer=1)]

    assert len(asyncio.all_tasks()) == before


async def test_leaving_a_merge_early_cancels_its_producers() -> None:
    before = len(asyncio.all_tasks())
    merged = merge([numbers(0, 10_000), numbers(100, 10_000)], buffer=1)

    async for n in merged:
        if n > 10:
            break
    await merged.aclose()  # type: ignore[attr-defined]

    assert len(asyncio.all_tasks()) == before
