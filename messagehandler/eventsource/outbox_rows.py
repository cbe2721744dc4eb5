"""Outbox entries as table rows, in the partition of the stream they belong to.

One row per stream with unpublished events: RowKey `$outbox_{stream id}`, columns `Kind` (`Outbox`),
`SourceId`, `FromVersion`, `ToVersion`, `Since` (DateTime: when the entry was created; an append that
extends it leaves it as it was) and, when the append ran inside a trace, `TraceParent` and `TraceState`
(the W3C trace context of the append that wrote the row last, at most 55 + 512 characters). The `$` prefix is reserved (no stream id may start with it), so these rows
never mix with a stream's rows and one RowKey range finds them all.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from messagehandler.eventsource.outbox import OUTBOX_ROW_PREFIX, OutboxEntry

if TYPE_CHECKING:
    from messagehandler.telemetry.propagation import TraceContext

FROM_VERSION = "FromVersion"
TO_VERSION = "ToVersion"
SINCE = "Since"
TRACE_PARENT = "TraceParent"
TRACE_STATE = "TraceState"
TIMESTAMP = "Timestamp"
ENTRY_COLUMNS = ["SourceId", FROM_VERSION, TO_VERSION, SINCE, TRACE_PARENT, TRACE_STATE, TIMESTAMP]
"""The columns an outbox entry is read from."""
KIND = "Kind"
OUTBOX_KIND = "Outbox"

OUTBOX_RANGE_START = OUTBOX_ROW_PREFIX
OUTBOX_RANGE_END = OUTBOX_ROW_PREFIX[:-1] + chr(ord(OUTBOX_ROW_PREFIX[-1]) + 1)


def outbox_row_key(stream_id: str) -> str:
    return f"{OUTBOX_ROW_PREFIX}{stream_id}"


def is_outbox_row(row_key: str) -> bool:
    return row_key.startswith(OUTBOX_ROW_PREFIX)


def outbox_entity(
    partition: str,
    stream_id: str,
    from_version: int,
    to_version: int,
    *,
    since: datetime | None = None,
    trace: TraceContext | None = None,
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "PartitionKey": partition,
        "RowKey": outbox_row_key(stream_id),
        KIND: OUTBOX_KIND,
        "SourceId": stream_id,
        FROM_VERSION: from_version,
        TO_VERSION: to_version,
    }
    if since is not None:
        row[SINCE] = since
    if trace is not None:
        row[TRACE_PARENT] = trace.traceparent
        row[TRACE_STATE] = trace.tracestate or ""
    return row


def entry_from_row(stream_type: str, row: Any, token: str, *, read_at: datetime | None = None) -> OutboxEntry:
    """The entry an outbox row holds; `token` is the row's ETag, `read_at` the service's time of the read.

    A row without `Since` (written before the column existed) counts its age from its `Timestamp`.
    """
    written_at = _timestamp(row)
    since = row.get(SINCE)
    if not isinstance(since, datetime):
        since = written_at
    return OutboxEntry(
        stream_type,
        row["SourceId"],
        row[FROM_VERSION],
        row[TO_VERSION],
        token,
        since=since,
        traceparent=row.get(TRACE_PARENT) or None,
        tracestate=row.get(TRACE_STATE) or None,
        written_at=written_at,
        read_at=read_at,
    )


def _timestamp(row: Any) -> datetime | None:
    """The row's `Timestamp`: a column of a JSON row (as text unless annotated), or an SDK entity's metadata."""
    value = row.get(TIMESTAMP) or getattr(row, "metadata", {}).get("timestamp")
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return value if isinstance(value, datetime) else None
