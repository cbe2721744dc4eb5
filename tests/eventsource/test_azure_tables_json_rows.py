"""Reads decode rows themselves: no row goes through the SDK's generic entity deserialiser, and typed values stay typed.

The source asks the service for `odata=minimalmetadata` JSON and converts only the annotated values.
Rows another client wrote with other Edm types are tested in `test_azure_tables_other_clients.py`;
here the conversion itself, and that every read path (load, read_type, read_changes, stream ids, the
outbox, the cache replicator) takes it.
"""

from __future__ import annotations

import base64
import json
import math
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.data.tables.aio import TableClient

from messagehandler.cache import CacheReader, CacheReplicator
from messagehandler.errors import ServiceError, ServiceUnavailableError
from messagehandler.events import EventTypeRegistry
from messagehandler.eventsource.azure_tables import AzureTableStorageEventSource, TableNotFoundError
from messagehandler.eventsource.azure_tables.json_rows import stored_at, typed
from messagehandler.eventsource.snapshots import Snapshot
from messagehandler.testing import RequestLog
from messagehandler.testing.azurite import AzuriteProcess
from tests.eventsource.azure_tables_support import ALL_TYPES, ORG, history
from tests.support.errors import account_key, assert_model_chain_without
from tests.support.fault_proxy import Fault, FaultProxy

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
def test_annotated_values_become_their_python_types(edm: str, text: Any, value: Any) -> None:
    row = typed({"Column": text, "Column@odata.type": edm, "Plain": "x"})

    assert set(row) == {"Column", "Plain"}
    assert type(row["Column"]) is type(value)
    assert math.isnan(row["Column"]) if value != value else row["Column"] == value
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


async def _load(source: AzureTableStorageEventSource) -> object:
    return await source.load(ORG, "a")


async def _read_type(source: AzureTableStorageEventSource) -> object:
    return [s async for s in source.read_type(ORG)]


async def _read_changes(source: AzureTableStorageEventSource) -> object:
    return [s async for s in source.read_changes(ORG, datetime.now(UTC) - timedelta(hours=1))]


async def _stream_ids(source: AzureTableStorageEventSource) -> object:
    return [i async for i in source.stream_ids(ORG)]


async def _pending(source: AzureTableStorageEventSource) -> object:
    return [e async for e in source.pending(ORG)]


async def _replicate(source: AzureTableStorageEventSource) -> object:
    with tempfile.TemporaryDirectory() as directory:
        return await CacheReplicator(source, Path(directory)).replicate([ORG])


async def _read_back(source: AzureTableStorageEventSource) -> object:
    """The same events again: the transaction meets the stored rows, and reading their ids back gets the answer."""
    return await source.append(ORG, "a", 0, await source.load(ORG, "a"))


QUERY_READERS = [_load, _read_type, _read_changes, _stream_ids, _pending, _replicate, _read_back]
"""Every reader whose queries go through `JsonRows` (lifecycle reads use the SDK's `query_entities`)."""
NOT_ROWS = [
    pytest.param(b"<html>proxy login</html>", "text/html", id="html"),
    pytest.param(b'{"value": [', "application/json", id="cut json"),
    pytest.param(b'{"odata.error": {}}', "application/json", id="no value"),
    pytest.param(b'{"value": {"RowKey": "a"}}', "application/json", id="value not a list"),
    pytest.param(b'{"value": ["a"]}', "application/json", id="rows not objects"),
    pytest.param(b"[]", "application/json", id="not an object"),
]


@pytest.fixture
async def proxied(
    make_table_source: MakeSource, table_proxy: FaultProxy, azurite: AzuriteProcess, table_name: str
) -> AsyncIterator[AzureTableStorageEventSource]:
    """A source through the proxy over a table holding two streams with outbox rows, read one row a page."""
    writer = make_table_source(outbox=True)
    writer.registry.register(*ALL_TYPES)
    await writer.append(ORG, "a", 0, history("a", 3))
    await writer.append(ORG, "b", 0, history("b", 2))
    async with AzureTableStorageEventSource.from_connection_string(
        table_proxy.rewrite(azurite.connection_string),
        table_name,
        registry=EventTypeRegistry(ALL_TYPES),
        outbox=True,
        page_size=1,
        retry_total=0,
    ) as source:
        yield source


def _assert_typed_and_secret_free(error: BaseException, azurite: AzuriteProcess, table_name: str) -> None:
    assert table_name in str(error)
    assert_model_chain_without(error, account_key(azurite.connection_string))


@pytest.mark.azurite
@pytest.mark.parametrize(("body", "content_type"), NOT_ROWS)
@pytest.mark.parametrize(
    ("reader", "after"),
    [
        pytest.param(reader, after, id=f"{reader.__name__.strip('_')}-{'later' if after else 'first'} page")
        for reader in QUERY_READERS
        for after in (0, 1)
        if not (after and reader is _pending)  # the outbox is read 1,000 rows a page: two rows are one page
    ],
)
async def test_an_answer_that_is_no_page_of_rows_is_a_typed_service_error(
    proxied: AzureTableStorageEventSource,
    table_proxy: FaultProxy,
    azurite: AzuriteProcess,
    reader: Callable[[AzureTableStorageEventSource], Any],
    body: bytes,
    content_type: str,
    after: int,
) -> None:
    expected = await reader(proxied)
    table_proxy.inject(
        Fault.ANSWER_AFTER, match=b"filter", after=after, status=200, body=body, headers={"Content-Type": content_type}
    )

    with pytest.raises(ServiceError) as raised:
        await reader(proxied)

    assert table_proxy.faulted, "no query met the answer"
    assert not isinstance(raised.value, ServiceUnavailableError)
    assert raised.value.status == 200
    _assert_typed_and_secret_free(raised.value, azurite, str(proxied.table_name))
    table_proxy.clear()
    assert _comparable(await reader(proxied)) == _comparable(expected)


def _comparable(result: object) -> object:
    """What a reader gave, in values that compare equal between two reads of the same rows."""
    if isinstance(result, list):
        return [getattr(item, "stream_id", item) for item in result]
    return getattr(result, "total_events", None if result is None else type(result).__name__)


@pytest.mark.azurite
@pytest.mark.parametrize("reader", QUERY_READERS, ids=lambda reader: reader.__name__.strip("_"))
async def test_a_continuation_the_service_repeats_stops_the_read_with_a_typed_error(
    proxied: AzureTableStorageEventSource,
    table_proxy: FaultProxy,
    azurite: AzuriteProcess,
    reader: Callable[[AzureTableStorageEventSource], Any],
) -> None:
    await proxied.load(ORG, "none")
    continuation = {"x-ms-continuation-NextPartitionKey": "1!8!T3Jn", "x-ms-continuation-NextRowKey": "1!4!YX4-"}
    table_proxy.inject(
        Fault.ANSWER_AFTER, match=b"filter", times=100, status=200, body=b'{"value": []}', headers=continuation
    )

    with pytest.raises(ServiceError) as raised:
        await reader(proxied)

    assert len(table_proxy.faulted) == 2, "the reader did not stop at the first repeated continuation"
    assert "same continuation" in str(raised.value)
    _assert_typed_and_secret_free(raised.value, azurite, str(proxied.table_name))


class RowKeysSeen:
    """A `raw_response_hook` noting the RowKey of every row the service sent in a query's answer."""

    def __init__(self) -> None:
        self.keys: list[str] = []

    def __call__(self, response: Any) -> None:
        http = response.http_response
        if http.request.method == "GET" and "filter" in http.request.url:
            self.keys.extend(row["RowKey"] for row in json.loads(http.body())["value"] if "RowKey" in row)


@pytest.mark.azurite
async def test_partition_scans_leave_snapshot_and_outbox_rows_on_the_service(
    make_table_source: MakeSource, raw_table: TableClient, tmp_path: Path
) -> None:
    seen = RowKeysSeen()
    source = make_table_source(outbox=True, page_size=2, raw_response_hook=seen)
    source.registry.register(*ALL_TYPES)
    around_dollar = [" a", "!b", "%c", "&d", "a", "a$", "z"]
    for stream_id in around_dollar:
        snapshot = Snapshot(2, "v1", '{"n": 1}')
        await source.append(ORG, stream_id, 0, history(stream_id, 2), snapshot=snapshot)
    stored = [row["RowKey"] async for row in raw_table.list_entities()]
    assert sum(key.startswith("$") for key in stored) == 2 * len(around_dollar)  # a snapshot and an outbox row each
    since = datetime.now(UTC) - timedelta(hours=1)

    streams = [(s.stream_id, s.version) async for s in source.read_type(ORG)]
    changed = [(s.stream_id, s.version) async for s in source.read_changes(ORG, since)]
    ids = [i async for i in source.stream_ids(ORG)]
    await CacheReplicator(source, tmp_path).replicate([ORG])

    assert streams == changed
    assert sorted(streams) == [(stream_id, 2) for stream_id in sorted(around_dollar)]
    assert sorted(ids) == sorted(around_dollar)
    assert sorted(e.stream_id for e in CacheReader(tmp_path).events()) == sorted(around_dollar * 2)
    assert seen.keys, "the hook saw no rows"
    assert [key for key in seen.keys if key.startswith("$")] == []
