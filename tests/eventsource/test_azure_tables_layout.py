"""Rows as other tools see them: the seed's layout, plain column types, long bodies split over columns."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from azure.data.tables.aio import TableClient

from messagehandler.eventsource.azure_tables import AzureTableStorageEventSource
from messagehandler.testing import recorded
from samples.organization import OrganizationRegistered, OrganizationRenamed
from tests.eventsource.azure_tables_support import ALL_TYPES, ORG, notes, raw_rows

pytestmark = pytest.mark.azurite

MakeSource = Callable[..., AzureTableStorageEventSource]


async def test_rows_follow_the_seed_layout(make_table_source: MakeSource, raw_table: TableClient) -> None:
    source = make_table_source()
    when = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    events = recorded(
        ORG,
        "acme",
        [OrganizationRegistered(name="Acme", country="BE"), OrganizationRenamed(name="Acme NV")],
        when=when,
        who="alice",
        correlation_id="corr-1",
        causation_id="cmd-1",
    )
    await source.append(ORG, "acme", 0, events)

    rows = sorted(await raw_rows(raw_table), key=lambda row: row["RowKey"])

    assert [(row["PartitionKey"], row["RowKey"]) for row in rows] == [
        (ORG, "acme_0000000001"),
        (ORG, "acme_0000000002"),
    ]
    first = rows[0]
    meta = events[0].metadata
    assert json.loads(first["Body"]) == {"name": "Acme", "country": "BE"}
    assert first["EventType"] == "OrganizationRegistered"
    assert first["SourceId"] == "acme"
    assert first["SourceType"] == ORG
    assert first["Version"] == 1
    assert type(first["Version"]) is int
    assert first["EventId"] == meta.event_id
    assert first["When"] == when
    assert (first["Who"], first["CorrelationId"], first["CausationId"]) == ("alice", "corr-1", "cmd-1")
    assert first["SchemaVersion"] == 1
    assert "TenantId" not in first
    assert "EncryptionKeyId" not in first
    assert set(first) == {
        "PartitionKey",
        "RowKey",
        "Body",
        "EventType",
        "SourceId",
        "SourceType",
        "Version",
        "EventId",
        "When",
        "Who",
        "CausationId",
        "CorrelationId",
        "SchemaVersion",
    }


async def test_a_long_body_is_split_over_columns_and_joined_on_read(
    make_table_source: MakeSource, raw_table: TableClient
) -> None:
    source = make_table_source()
    source.registry.register(*ALL_TYPES)
    text = "".join(chr(ord("a") + n % 26) for n in range(100_000))
    await source.append(ORG, "big", 0, notes("big", [text]))

    (row,) = await raw_rows(raw_table)
    (loaded,) = await source.load(ORG, "big")

    body_columns = sorted((c for c in row if c.startswith("Body")), key=lambda c: (len(c), c))
    assert body_columns == ["Body", "Body_1", "Body_2", "Body_3"]
    assert all(len(row[c]) <= 32_000 for c in body_columns)
    assert json.loads("".join(row[c] for c in body_columns)) == {"text": text}
    assert loaded.model_dump() == {"text": text}


async def test_non_ascii_bodies_are_split_within_the_utf16_limit(
    make_table_source: MakeSource, raw_table: TableClient
) -> None:
    source = make_table_source()
    source.registry.register(*ALL_TYPES)
    text = "✓😀é" * 15_000
    await source.append(ORG, "wide", 0, notes("wide", [text]))

    (row,) = await raw_rows(raw_table)
    (loaded,) = await source.load(ORG, "wide")

    chunks = [value for column, value in row.items() if column.startswith("Body")]
    assert len(chunks) > 2
    assert all(len(chunk.encode("utf-16-le")) <= 64 * 1024 for chunk in chunks)
    assert loaded.model_dump() == {"text": text}


async def test_loaded_events_carry_the_row_timestamp(make_table_source: MakeSource, raw_table: TableClient) -> None:
    source = make_table_source()
    source.registry.register(*ALL_TYPES)
    await source.append(ORG, "acme", 0, notes("acme", ["a"]))

    (row,) = [r async for r in raw_table.list_entities()]
    (loaded,) = await source.load(ORG, "acme")

    assert loaded.metadata.stored_at == row.metadata["timestamp"]
