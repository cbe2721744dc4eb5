"""Reads page through continuation tokens and keep streams whole, even when ids extend each other."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from azure.data.tables.aio import TableClient

from messagehandler import EventTypeRegistry, UnknownEventTypeError, UnreadableEventError
from messagehandler.eventsource.azure_tables import AzureTableStorageEventSource
from tests.eventsource.azure_tables_support import ALL_TYPES, ORG, history, notes

pytestmark = pytest.mark.azurite

MakeSource = Callable[..., AzureTableStorageEventSource]


class RequestCounter:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, response: Any) -> None:
        self.count += 1


async def fill(source: AzureTableStorageEventSource, sizes: dict[str, int]) -> None:
    for stream_id, size in sizes.items():
        await source.append(ORG, stream_id, 0, history(stream_id, size))


@pytest.mark.parametrize("page_size", [1, 3, 7])
async def test_reads_are_correct_across_page_boundaries(make_table_source: MakeSource, page_size: int) -> None:
    writer = make_table_source()
    writer.registry.register(*ALL_TYPES)
    sizes = {f"org-{n}": 1 + n % 5 for n in range(9)}
    await fill(writer, sizes)
    requests = RequestCounter()
    reader = make_table_source(page_size=page_size, raw_response_hook=requests)
    reader.registry.register(*ALL_TYPES)

    streams = {s.stream_id: [e.metadata.version for e in s.events] async for s in reader.read_type(ORG)}
    pages_read = requests.count

    assert streams == {stream_id: list(range(1, size + 1)) for stream_id, size in sizes.items()}
    assert pages_read >= sum(sizes.values()) // page_size
    assert sorted([i async for i in reader.stream_ids(ORG)]) == sorted(sizes)
    loaded = await reader.load(ORG, "org-4", from_version=2)
    assert [e.metadata.version for e in loaded] == [2, 3, 4, 5]


async def test_streams_whose_ids_extend_each_other_stay_whole(make_table_source: MakeSource) -> None:
    source = make_table_source(page_size=2)
    source.registry.register(*ALL_TYPES)
    sizes = {"x": 4, "x_0000000001": 3, "x_0000000002": 2, "x_0000000001_0000000002": 2, "x_": 2, "y": 1}
    await fill(source, sizes)

    streams = [s async for s in source.read_type(ORG)]

    assert sorted(s.stream_id for s in streams) == sorted(sizes)
    for stream in streams:
        assert [e.metadata.version for e in stream.events] == list(range(1, sizes[stream.stream_id] + 1))
        assert {e.metadata.source_id for e in stream.events} == {stream.stream_id}
    for stream_id, size in sizes.items():
        assert len(await source.load(ORG, stream_id)) == size


async def test_read_type_deserialises_through_the_registry(make_table_source: MakeSource) -> None:
    source = make_table_source()
    source.registry.register(*ALL_TYPES)
    await source.append(ORG, "a", 0, notes("a", ["hello"]))
    reader = make_table_source(registry=EventTypeRegistry(closed=True))  # a reader that lacks Note

    with pytest.raises(UnreadableEventError, match=r"Note.*Organization/a") as raised:
        _ = [s async for s in reader.read_type(ORG)]
    assert isinstance(raised.value.__cause__, UnknownEventTypeError)
    assert (raised.value.partition_key, raised.value.row_key) == (ORG, "a_0000000001")


async def test_the_table_is_created_on_first_use(make_table_source: MakeSource, raw_table: TableClient) -> None:
    source = make_table_source()

    assert await source.load(ORG, "nobody") == []
    assert [s async for s in source.read_type(ORG)] == []
    assert [row async for row in raw_table.list_entities()] == []


async def test_without_create_table_a_missing_table_is_a_configuration_error(make_table_source: MakeSource) -> None:
    from messagehandler import ConfigurationError
    from messagehandler.eventsource.azure_tables import TableNotFoundError

    source = make_table_source(create_table=False)
    source.registry.register(*ALL_TYPES)

    with pytest.raises(TableNotFoundError) as raised:
        await source.load(ORG, "acme")
    assert isinstance(raised.value, ConfigurationError)
    with pytest.raises(TableNotFoundError):
        await source.append(ORG, "acme", 0, history("acme", 1))
