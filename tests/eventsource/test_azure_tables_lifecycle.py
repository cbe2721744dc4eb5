"""Archive and delete as rows in the table: what is left, and a delete that fails half way is finished by the next.

The behaviour both sources share is the contract (tests/contract/test_lifecycle.py); these look at
the rows with the SDK's own client, as other tools see them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableClient

from messagehandler import EventTypeRegistry
from messagehandler.errors import ServiceError
from messagehandler.eventsource.azure_tables import AzureTableStorageEventSource
from messagehandler.eventsource.lifecycle import StreamDeletedError, StreamState
from messagehandler.testing.azurite import AzuriteProcess
from messagehandler.testing.streams import CONTRACT_EVENTS, STREAM_TYPE, history
from tests.support.fault_proxy import Fault, FaultProxy

pytestmark = pytest.mark.azurite

MakeSource = Callable[..., AzureTableStorageEventSource]


async def rows(table: TableClient) -> dict[str, dict[str, Any]]:
    return {str(row["RowKey"]): dict(row) async for row in table.list_entities()}


async def fill(source: AzureTableStorageEventSource, stream_id: str, count: int) -> None:
    version = 0
    while version < count:
        size = min(90, count - version)
        await source.append(STREAM_TYPE, stream_id, version, history(stream_id, size, start_version=version + 1))
        version += size


async def test_an_archive_is_one_row_after_the_last_event(
    make_table_source: MakeSource, raw_table: TableClient
) -> None:
    source = make_table_source(registry=EventTypeRegistry(CONTRACT_EVENTS))
    await fill(source, "old", 2)

    await source.archive(STREAM_TYPE, "old", who="ops", reason="closed")

    mark = (await rows(raw_table))["old_0000000003"]
    assert {k: mark[k] for k in ("Kind", "SourceId", "LastVersion", "Who", "Reason")} == {
        "Kind": "Archived",
        "SourceId": "old",
        "LastVersion": 2,
        "Who": "ops",
        "Reason": "closed",
    }
    assert "Body" not in mark
    assert "Version" not in mark


async def test_a_delete_leaves_a_payload_free_deleted_row_at_every_version_up_to_the_end_mark(
    make_table_source: MakeSource, raw_table: TableClient
) -> None:
    source = make_table_source(registry=EventTypeRegistry(CONTRACT_EVENTS))
    await fill(source, "gone", 250)
    await fill(source, "kept", 1)

    record = await source.delete(STREAM_TYPE, "gone", who="dpo", reason="test data")

    left = await rows(raw_table)
    assert sorted(left) == [*(f"gone_{v:010d}" for v in range(1, 252)), "kept_0000000001"]
    for key in (k for k in left if k.startswith("gone_")):
        assert {k: left[key].get(k) for k in ("Kind", "LastVersion", "Who", "Body")} == {
            "Kind": "Deleted",
            "LastVersion": 250,
            "Who": "dpo",
            "Body": None,
        }
    assert record.state is StreamState.DELETED
    assert [i async for i in source.stream_ids(STREAM_TYPE)] == ["kept"]


@pytest.mark.parametrize("version", [None, 7], ids=["no-version-column", "version-disagreeing-with-its-key"])
async def test_a_delete_overwrites_rows_other_tools_wrote_in_the_stream_where_they_are(
    make_table_source: MakeSource, raw_table: TableClient, version: int | None
) -> None:
    source = make_table_source(registry=EventTypeRegistry(CONTRACT_EVENTS))
    await fill(source, "gone", 3)
    stored = await raw_table.get_entity(STREAM_TYPE, "gone_0000000002")
    odd = {k: v for k, v in stored.items() if k != "Version"} | ({"Version": version} if version is not None else {})
    await raw_table.upsert_entity(odd, mode=UpdateMode.REPLACE)

    await source.delete(STREAM_TYPE, "gone", who="dpo")

    left = await rows(raw_table)
    assert {f"gone_{v:010d}" for v in (1, 2, 3)} <= set(left)  # overwritten where they were, end mark after
    assert all(row.get("Kind") == "Deleted" and "Body" not in row for row in left.values())


async def test_a_delete_that_fails_half_way_reads_deleted_and_is_finished_by_running_it_again(
    table_proxy: FaultProxy,
    azurite: AzuriteProcess,
    table_name: str,
    make_table_source: MakeSource,
    raw_table: TableClient,
) -> None:
    writer = make_table_source(registry=EventTypeRegistry(CONTRACT_EVENTS))
    await fill(writer, "gone", 250)
    flaky = AzureTableStorageEventSource.from_connection_string(
        table_proxy.rewrite(azurite.connection_string),
        table_name,
        registry=EventTypeRegistry(CONTRACT_EVENTS),
        retry_total=0,
    )
    table_proxy.inject(Fault.ERROR_BEFORE, match=b"$batch", after=2, status=500, code="InternalError")
    try:
        with pytest.raises(ServiceError):
            await flaky.delete(STREAM_TYPE, "gone")
    finally:
        await flaky.close()

    kinds = [row.get("Kind") for row in (await rows(raw_table)).values()]
    assert 2 < kinds.count("Deleted") < 251
    with pytest.raises(StreamDeletedError):
        await writer.load(STREAM_TYPE, "gone")
    assert [s async for s in writer.read_type(STREAM_TYPE)] == []

    await writer.delete(STREAM_TYPE, "gone")

    left = await rows(raw_table)
    assert sorted(left) == [f"gone_{v:010d}" for v in range(1, 252)]
    assert {row.get("Kind") for row in left.values()} == {"Deleted"}
