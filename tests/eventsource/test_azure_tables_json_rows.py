"""Reads decode rows themselves: no row goes through the SDK's generic entity deserialiser, and typed values stay typed.

The source asks the service for `odata=minimalmetadata` JSON and converts only the annotated values.
Rows another client wrote with other Edm types are tested in `test_azure_tables_other_clients.py`;
here the conversion itself, and that every read path (load, read_type, read_changes, stream ids, the
outbox, the cache replicator) takes it.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.data.tables.aio import TableClient

from messagehandler.cache import CacheReader, CacheReplicator
from messagehandler.eventsource.azure_tables import AzureTableStorageEventSource, TableNotFoundError
from messagehandler.eventsource.azure_tables.json_rows import stored_at, typed
from messagehandler.testing import RequestLog
from tests.eventsource.azure_tables_support import ALL_TYPES, ORG, history

MakeSource = Callable[..., AzureTableStorageEventSource]


@pytest.mark.parametrize(
    ("edm", "text", "value"),
    [
        ("Edm.Int64", "9007199254740993", 9007199254740993),
        ("Edm.Guid", "5d4e298f-17cb-4eaa-8115-8f91c722d06d", uuid.UUID("5d4e298f-17cb-4eaa-8115-8f91c722d06d")),
        ("Edm.DateTime", "2026-05-06T07:08:09.1234567Z", datetime(2026, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)),
        ("Edm.DateTime", "2026-05-06T07:08:09", datetime(2026, 5, 6, 7, 8, 9, tzinfo=UTC)),
        ("Edm.Binary", base64.b64encode(b"\x00\x01").decode(), b"\x00\x01"),
        ("Edm.Double", "NaN", float("nan")),
        ("Edm.Double", 3, 3.0),
    ],
)
def test_annotated_values_become_what_the_sdk_made_of_them(edm: str, text: Any, value: Any) -> None:
    row = typed({"Column": text, "Column@odata.type": edm, "Plain": "x"})

    assert set(row) == {"Column", "Plain"}
    assert type(row["Column"]) is type(value)
    assert row["Column"] == value or value != value  # NaN
    assert row["Plain"] == "x"


def test_a_malformed_typed_value_stays_text_for_the_reader_to_refuse() -> None:
    assert typed({"Version": "three", "Version@odata.type": "Edm.Int64"}) == {"Version": "three"}
    assert typed({"Who@odata.type": "Edm.Int64"}) == {}


def test_an_unknown_annotation_leaves_the_value_alone() -> None:
    assert typed({"Flag": True, "Flag@odata.type": "Edm.Boolean"}) == {"Flag": True}


def test_the_commit_time_is_read_from_text_or_taken_as_it_is() -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    assert stored_at({"Timestamp": "2026-01-02T03:04:05.6789012Z"}) == moment
    assert stored_at({"Timestamp": moment}) is moment
    assert stored_at({}) is None


@pytest.mark.azurite
async def test_no_read_path_uses_the_sdk_entity_deserialiser(
    make_table_source: MakeSource, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    source = make_table_source(outbox=True)
    source.registry.register(*ALL_TYPES)
    await source.append(ORG, "a", 0, history("a", 3))
    await source.append(ORG, "b", 0, history("b", 2))

    def refuse(entity: Any) -> Any:
        raise AssertionError("a read went through the SDK's generic entity deserialiser")

    monkeypatch.setattr("azure.data.tables.aio._models._convert_to_entity", refuse)

    assert [e.metadata.version for e in await source.load(ORG, "a")] == [1, 2, 3]
    assert [(s.stream_id, s.version) async for s in source.read_type(ORG)] == [("a", 3), ("b", 2)]
    since = datetime.now(UTC) - timedelta(hours=1)
    assert [s.stream_id async for s in source.read_changes(ORG, since)] == ["a", "b"]
    assert [i async for i in source.stream_ids(ORG)] == ["a", "b"]
    assert [(e.stream_id, e.to_version) async for e in source.pending(ORG)] == [("a", 3), ("b", 2)]
    summary = await CacheReplicator(source, tmp_path).replicate([ORG])
    assert summary.total_events == 5
    assert [(e.stream_id, e.version) for e in CacheReader(tmp_path).events()][-1] == ("b", 2)


@pytest.mark.azurite
async def test_loaded_events_carry_the_commit_time_and_metadata_of_the_sdk_path(
    make_table_source: MakeSource, raw_table: TableClient
) -> None:
    source = make_table_source()
    source.registry.register(*ALL_TYPES)
    events = history("m", 2)
    await source.append(ORG, "m", 0, events)

    loaded = await source.load(ORG, "m")
    through_sdk = [row async for row in raw_table.query_entities("PartitionKey eq @pk", parameters={"pk": ORG})]

    assert [e.metadata for e in loaded] == [e.metadata for e in events]
    assert [e.metadata.stored_at for e in loaded] == [row.metadata["timestamp"] for row in through_sdk]
    assert all(e.metadata.stored_at is not None and e.metadata.stored_at.tzinfo is UTC for e in loaded)


@pytest.mark.azurite
async def test_a_query_of_a_missing_table_is_table_not_found(make_table_source: MakeSource) -> None:
    source = make_table_source(create_table=False)
    log = RequestLog()
    reader = make_table_source(create_table=False, raw_request_hook=log)

    with pytest.raises(TableNotFoundError):
        await reader.load(ORG, "a")
    with pytest.raises(TableNotFoundError):
        _ = [s async for s in source.read_type(ORG)]
    assert log.kinds() == ["query"]
