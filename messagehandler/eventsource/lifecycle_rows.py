"""Archive marks and tombstones as table rows, in the stream's own RowKey range.

A lifecycle row has a `Kind` column (`Archived` or `Deleted`), which event rows never have, and
`SourceId`, `LastVersion`, `When`, `Who`, `Reason`. An archived stream of N events gets one at
RowKey version N + 1, so an append expecting version N fails on that row like on a competing
writer's, with no extra read on the append path, and `load` meets it in the range it reads anyway.
A deleted stream keeps one at every version from 1 (the tombstone: an append to a new stream of that
id collides with it) to N + 1 (the end mark): each event row is replaced by a copy, so an append of
any writer that loaded before the delete, at whatever version, collides with one. They are small
and hold no payload.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from messagehandler.eventsource.lifecycle import LifecycleRecord, StreamState
from messagehandler.eventsource.outbox_rows import KIND
from messagehandler.eventsource.rows import SOURCE_ID, row_key, text_of, version_of, when_of

LAST_VERSION = "LastVersion"
RECORD_COLUMNS = [SOURCE_ID, KIND, LAST_VERSION, "When", "Who", "Reason"]
"""What a read must select to recognise lifecycle rows and rebuild their records."""


def is_lifecycle_row(row: Mapping[str, Any]) -> bool:
    return KIND in row


def lifecycle_entity(partition: str, version: int, record: LifecycleRecord) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "PartitionKey": partition,
        "RowKey": row_key(record.stream_id, version),
        KIND: record.state.value,
        SOURCE_ID: record.stream_id,
        LAST_VERSION: record.last_version,
        "When": record.when,
    }
    if record.who is not None:
        entity["Who"] = record.who
    if record.reason is not None:
        entity["Reason"] = record.reason
    return entity


def record_from_row(stream_type: str, row: Mapping[str, Any]) -> LifecycleRecord:
    when: datetime = when_of(row["When"])
    return LifecycleRecord(
        stream_type,
        text_of(row[SOURCE_ID]),
        StreamState(text_of(row[KIND])),
        version_of(row[LAST_VERSION]),
        when,
        row.get("Who"),
        row.get("Reason"),
    )
