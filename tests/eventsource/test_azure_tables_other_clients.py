"""Rows other clients write in the documented layout are read: other Edm types, other body splits, other orders.

The rows are written with the SDK's own client and its `EntityProperty`/`EdmType`, so they are what the
.NET and Node SDKs store: `Version` as Int64 (a .NET `long`), `EventId` as a Guid, `When` as a string,
a body split by UTF-16 units (inside a surrogate pair, as .NET `Substring` and JavaScript `slice` do)
with its chunk columns in any order.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from azure.data.tables import EdmType, EntityProperty
from azure.data.tables.aio import TableClient

from messagehandler import AggregateRepository, SerializationError
from messagehandler.eventsource.azure_tables import AzureTableStorageEventSource
from samples.organization import Organization, OrganizationRegistered, OrganizationRenamed
from tests.eventsource.azure_tables_support import ALL_TYPES, ORG, Note, history

pytestmark = pytest.mark.azurite

MakeSource = Callable[..., AzureTableStorageEventSource]
WHEN = datetime(2026, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)


def utf16_chunks(text: str, units: int) -> list[str]:
    """`text` cut every `units` UTF-16 code units, as .NET and JavaScript cut strings, pairs included."""
    encoded = text.encode("utf-16-le", "surrogatepass")
    step = 2 * units
    return [encoded[i : i + step].decode("utf-16-le", "surrogatepass") for i in range(0, len(encoded), step)]


def foreign_row(stream_id: str, version: int, event_type: str, body: str, **columns: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "PartitionKey": ORG,
        "RowKey": f"{stream_id}_{version:010d}",
        "Body": body,
        "EventType": event_type,
        "SourceId": stream_id,
        "SourceType": ORG,
        "Version": EntityProperty(version, EdmType.INT64),
        "EventId": uuid.uuid4(),
        "When": WHEN.isoformat().replace("+00:00", "0Z"),
        "SchemaVersion": EntityProperty(1, EdmType.INT64),
    }
    row.update(columns)
    return row


def chunked(row: dict[str, Any], units: int) -> dict[str, Any]:
    """The row with its body split into `Body`, `Body_1`, ... columns, inserted in a shuffled order."""
    chunks = utf16_chunks(row.pop("Body"), units)
    columns = [("Body" if n == 0 else f"Body_{n}", chunk) for n, chunk in enumerate(chunks)]
    random.Random(7).shuffle(columns)
    return {**row, **dict(columns)}


@pytest.fixture
async def source(make_table_source: MakeSource, raw_table: TableClient) -> AzureTableStorageEventSource:
    created = make_table_source()
    created.registry.register(*ALL_TYPES)
    await created.load(ORG, "nothing")  # creates the table
    return created


async def test_a_stream_another_client_wrote_loads_and_is_listed(
    source: AzureTableStorageEventSource, raw_table: TableClient
) -> None:
    text = "emoji 😀 at every offset 🎉🎉🎉 " * 40
    await raw_table.create_entity(foreign_row("dotnet", 1, "OrganizationRegistered", '{"name":"Dot","country":"BE"}'))
    await raw_table.create_entity(chunked(foreign_row("dotnet", 2, "Note", Note(text=text).model_dump_json()), 101))
    await raw_table.create_entity(
        foreign_row("dotnet", 3, "OrganizationRenamed", '{"name":"Dot Net"}', CorrelationId=uuid.UUID(int=7), Who="svc")
    )

    loaded = await source.load(ORG, "dotnet")

    assert [type(e) for e in loaded] == [OrganizationRegistered, Note, OrganizationRenamed]
    assert loaded[1] == Note(text=text)
    assert [e.metadata.version for e in loaded] == [1, 2, 3]
    assert all(type(e.metadata.version) is int and type(e.metadata.schema_version) is int for e in loaded)
    assert all(type(e.metadata.event_id) is str for e in loaded)
    assert [e.metadata.when for e in loaded] == [WHEN] * 3
    assert loaded[2].metadata.correlation_id == str(uuid.UUID(int=7))
    assert [i async for i in source.stream_ids(ORG)] == ["dotnet"]
    assert [(s.stream_id, s.version) async for s in source.read_type(ORG)] == [("dotnet", 3)]


async def test_an_aggregate_another_client_wrote_can_be_got_and_appended_to(
    source: AzureTableStorageEventSource, raw_table: TableClient
) -> None:
    await raw_table.create_entity(foreign_row("node", 1, "OrganizationRegistered", '{"name":"Node","country":"NL"}'))
    await raw_table.create_entity(foreign_row("node", 2, "OrganizationRenamed", '{"name":"Node.js"}'))

    org = await AggregateRepository(source).get(Organization, "node")
    org.rename("Node Inc")
    repository = AggregateRepository(source)
    repository.add(org)
    await repository.flush()

    assert org.version == 3
    assert [e.metadata.version for e in await source.load(ORG, "node")] == [1, 2, 3]


@pytest.mark.parametrize("units", [1, 2, 3, 7, 32])
async def test_a_body_split_anywhere_in_utf16_is_joined(
    source: AzureTableStorageEventSource, raw_table: TableClient, units: int
) -> None:
    body = Note(text="a😀b🎉c\U0001f9d1\u200d\U0001f4bb d").model_dump_json()
    await raw_table.create_entity(chunked(foreign_row("split", 1, "Note", body), units))

    (loaded,) = await source.load(ORG, "split")

    assert loaded.model_dump_json() == body


@pytest.mark.parametrize(
    ("column", "value", "named"),
    [
        ("Version", "three", "Version"),
        ("When", "yesterday", "When"),
        ("EventId", EntityProperty(5, EdmType.INT64), "EventId"),
        ("Who", 42, "Who"),
        # typed values that read as plain text without the service's type annotations: still refused
        ("Who", WHEN, "Who"),
        ("CorrelationId", b"binary", "CorrelationId"),
        ("Body", b'{"name":"x"}', "Body"),
        ("Version", EntityProperty(1.0, EdmType.DOUBLE), "Version"),
        ("When", uuid.UUID(int=1), "When"),
    ],
)
async def test_a_column_of_no_usable_type_is_a_serialization_error_naming_it(
    source: AzureTableStorageEventSource, raw_table: TableClient, column: str, value: Any, named: str
) -> None:
    await raw_table.create_entity(foreign_row("odd", 1, "OrganizationRenamed", '{"name":"x"}', **{column: value}))

    with pytest.raises(SerializationError) as raised:
        await source.load(ORG, "odd")

    assert "odd_0000000001" in str(raised.value)
    assert named in str(raised.value)


async def test_our_own_rows_still_round_trip(source: AzureTableStorageEventSource) -> None:
    events = history("ours", 3)
    await source.append(ORG, "ours", 0, events)

    assert [e.metadata for e in await source.load(ORG, "ours")] == [e.metadata for e in events]
