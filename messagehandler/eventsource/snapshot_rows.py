"""Snapshots as table rows, in the partition of the stream they belong to.

RowKey `$snapshot_{stream id}`, columns `SourceId`, `Version`, `EventId` (of the event at that version;
absent from rows written before it was kept), `Schema` and the state's JSON text in
`Body`, continued in `Body_1`, `Body_2`, ... when longer than one string property holds, exactly as
an event's body. The `$` prefix keeps the row out of every RowKey range of a stream and out of bulk
reads, which skip `$` rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from messagehandler.eventsource.rows import (
    EVENT_ID,
    SOURCE_ID,
    VERSION,
    body_column,
    body_of,
    split_body,
    text_of,
    version_of,
)
from messagehandler.eventsource.snapshots import SNAPSHOT_ROW_PREFIX, Snapshot

SCHEMA = "Schema"


def snapshot_row_key(stream_id: str) -> str:
    return f"{SNAPSHOT_ROW_PREFIX}{stream_id}"


def snapshot_entity(partition: str, stream_id: str, snapshot: Snapshot, chunk_chars: int) -> dict[str, Any]:
    entity: dict[str, Any] = {"PartitionKey": partition, "RowKey": snapshot_row_key(stream_id)}
    for index, chunk in enumerate(split_body(snapshot.state, chunk_chars)):
        entity[body_column(index)] = chunk
    entity[SOURCE_ID] = stream_id
    entity[VERSION] = snapshot.version
    if snapshot.event_id is not None:
        entity[EVENT_ID] = snapshot.event_id
    entity[SCHEMA] = snapshot.schema
    return entity


def snapshot_from_row(row: Mapping[str, Any]) -> Snapshot:
    """The snapshot a row holds; `KeyError`, `TypeError` or `ValueError` when it is not one."""
    event_id = row.get(EVENT_ID)
    return Snapshot(
        version_of(row[VERSION]), str(row[SCHEMA]), body_of(row), None if event_id is None else text_of(event_id)
    )
