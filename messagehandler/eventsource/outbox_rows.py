"""Outbox entries as table rows, in the partition of the stream they belong to.

One row per stream with unpublished events: RowKey `$outbox_{stream id}`, columns `Kind` (`Outbox`),
`SourceId`, `FromVersion`, `ToVersion`. The `$` prefix is reserved (no stream id may start with it), so these rows
never mix with a stream's rows and one RowKey range finds them all.
"""

from __future__ import annotations

from typing import Any

from messagehandler.eventsource.outbox import OUTBOX_ROW_PREFIX, OutboxEntry

FROM_VERSION = "FromVersion"
TO_VERSION = "ToVersion"
KIND = "Kind"
OUTBOX_KIND = "Outbox"

OUTBOX_RANGE_START = OUTBOX_ROW_PREFIX
OUTBOX_RANGE_END = OUTBOX_ROW_PREFIX[:-1] + chr(ord(OUTBOX_ROW_PREFIX[-1]) + 1)


def outbox_row_key(stream_id: str) -> str:
    return f"{OUTBOX_ROW_PREFIX}{stream_id}"


def is_outbox_row(row_key: str) -> bool:
    return row_key.startswith(OUTBOX_ROW_PREFIX)


def outbox_entity(partition: str, stream_id: str, from_version: int, to_version: int) -> dict[str, Any]:
    return {
        "PartitionKey": partition,
        "RowKey": outbox_row_key(stream_id),
        KIND: OUTBOX_KIND,
        "SourceId": stream_id,
        FROM_VERSION: from_version,
        TO_VERSION: to_version,
    }


def entry_from_row(stream_type: str, row: Any, token: str) -> OutboxEntry:
    """The entry an outbox row holds; `token` is the row's ETag."""
    return OutboxEntry(stream_type, row["SourceId"], row[FROM_VERSION], row[TO_VERSION], token)
