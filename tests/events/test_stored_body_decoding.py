"""A stored body that cannot be decoded is a typed error on every read path, never a raw Python error.

The class: decoders of stored or received data that let `RecursionError`, `UnicodeDecodeError`,
`ValueError` or `TypeError` out. A raw error is not `is_unreadable`, so `SkipBadRows` cannot skip
its stream and a host cannot dead-letter it. Each path is run with the same bodies: nested too deeply
for the parser, not UTF-8 text, not JSON, JSON of the wrong shape.
"""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest
from azure.data.tables.aio import TableClient

from messagehandler import (
    Event,
    EventMetadata,
    EventTypeRegistry,
    JsonEventSerializer,
    MessageHandlerError,
    SerializationError,
    ServiceError,
    SkipBadRows,
    UnreadableEventError,
    UpcastError,
)
from messagehandler.azure_errors import azure_errors
from messagehandler.events.serialization import UndecodedEvent, undecoded_as_placeholders
from messagehandler.eventsource.azure_tables import AzureTableStorageEventSource
from messagehandler.eventsource.azure_tables.json_rows import _page_rows
from messagehandler.eventsource.bad_rows import is_unreadable
from messagehandler.search import SearchIndexError, SqliteSearchIndex
from messagehandler.testing import recorded
from samples.organization.search import SearchEntry


class Priced(Event, type_name="tests.decoding.Priced", schema_version=2):
    amount: int
    currency: str


BODIES = {
    "nested-too-deep": "[" * 30_000,
    "nested-deeper-than-the-parser": "[" * 300 + "]" * 300,
    "not-utf8": '{"amount": 1, "currency": "\udcff"}',
    "not-json": "{not json",
    "a-list": "[]",
    "null": "null",
    "wrong-field-types": '{"amount": "many", "currency": 3}',
}


@pytest.fixture
def serializer() -> JsonEventSerializer:
    registry = EventTypeRegistry([Priced], closed=True)
    registry.add_upcaster(Priced, 1, lambda data: {**data, "currency": "EUR"})
    return JsonEventSerializer(registry)


def _metadata(schema_version: int) -> EventMetadata:
    (event,) = recorded("Account", "a-1", [Priced(amount=1, currency="EUR")])
    return dataclasses.replace(event.metadata, schema_version=schema_version)


@pytest.mark.parametrize("reader", ["deserialize", "deserialize_many"])
@pytest.mark.parametrize("schema_version", [2, 1], ids=["current", "old-upcast"])
@pytest.mark.parametrize("body", BODIES)
def test_an_undecodable_body_is_a_typed_skippable_error_on_every_path(
    serializer: JsonEventSerializer, body: str, schema_version: int, reader: str
) -> None:
    metadata = _metadata(schema_version)
    stored = BODIES[body]

    def read() -> Event:
        if reader == "deserialize":
            return serializer.deserialize(stored, metadata)
        (event,) = serializer.deserialize_many([(metadata, stored)])
        return event

    with pytest.raises((SerializationError, UpcastError)) as caught:
        read()

    assert is_unreadable(caught.value)
    assert "tests.decoding.Priced" in str(caught.value)
    with undecoded_as_placeholders():
        placeholder = read()
    assert isinstance(placeholder, UndecodedEvent)
    assert placeholder.body == stored


def test_an_old_body_still_reads_through_its_upcaster(serializer: JsonEventSerializer) -> None:
    event = serializer.deserialize('{"amount": 7}', _metadata(1))

    assert event == Priced(amount=7, currency="EUR")
    assert event.metadata.schema_version == 2


@pytest.mark.azurite
async def test_a_deeply_nested_old_row_is_skipped_by_policy_and_named(
    make_table_source: type[AzureTableStorageEventSource], raw_table: TableClient
) -> None:
    source = make_table_source()
    source.registry.register(Priced)
    source.registry.add_upcaster(Priced, 1, lambda data: {**data, "currency": "EUR"})
    for stream_id in ("bad", "good"):
        await source.append("Account", stream_id, 0, recorded("Account", stream_id, [Priced(amount=1, currency="EUR")]))
    row = await raw_table.get_entity("Account", "bad_0000000001")
    await raw_table.upsert_entity({**row, "Body": "[" * 30_000, "SchemaVersion": 1})

    with pytest.raises(UnreadableEventError) as caught:
        [stream async for stream in source.read_type("Account")]
    assert caught.value.row_key == "bad_0000000001"
    assert isinstance(caught.value.__cause__, SerializationError)

    bad_rows = SkipBadRows()
    assert [s.stream_id async for s in source.read_type("Account", bad_rows=bad_rows)] == ["good"]
    assert [e.row_key for e in bad_rows.skipped] == ["bad_0000000001"]


@pytest.mark.parametrize(
    "content",
    [b"[" * 30_000, b"\xff\xfe", b"{not json", b'{"value": 3}', b'{"value": [1]}', b"{}"],
    ids=["nested-too-deep", "not-utf8", "not-json", "value-not-a-list", "rows-not-objects", "no-value"],
)
def test_a_query_answer_that_is_no_feed_is_a_service_error_not_a_bad_row(content: bytes) -> None:
    response = SimpleNamespace(content=content, status_code=200, reason="OK", headers={})

    with (
        pytest.raises(ServiceError, match="not an OData feed") as caught,
        azure_errors("table 'Events'", action="read"),
    ):
        _page_rows(response)

    assert not is_unreadable(caught.value)


@pytest.mark.parametrize(
    "body", ["[" * 30_000, "{not json", "[]", '{"id": 3}'], ids=["nested-too-deep", "not-json", "a-list", "wrong-shape"]
)
async def test_a_record_of_a_sqlite_index_that_does_not_read_is_a_typed_error(body: str) -> None:
    async with SqliteSearchIndex(SearchEntry) as index:
        await index.upsert({"acme": SearchEntry(id="acme", name="Acme")})
        await index._run(lambda db: db.execute("UPDATE records SET body = ?", (body,)))

        with pytest.raises(SearchIndexError, match="record 'acme' does not read as a SearchEntry") as caught:
            await index.get("acme")
        assert isinstance(caught.value, MessageHandlerError)
        with pytest.raises(SearchIndexError, match="record 'acme'"):
            await index.search("acme")
