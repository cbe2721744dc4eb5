"""How many bytes an event takes as a Table Storage row, by Microsoft's published billing formula.

    4 + 2 x len(PartitionKey + RowKey) + sum over properties of (8 + 2 x len(name) + value size)

with strings costing 4 + 2 x length, Int32 4 and DateTime 8. The properties are those of the row
layout in `messagehandler.eventsource.rows`; the body is counted as split over
`Body`, `Body_1`, ... chunks of 32,000 characters.
"""

from __future__ import annotations

from messagehandler.cache.raw import RawEvent

BODY_CHUNK_CHARS = 32_000
_ROW_KEY_SUFFIX = 11
_SHARD_SUFFIX = 3


def _string(name: str, value: str) -> int:
    return 8 + 2 * len(name) + 4 + 2 * len(value)


def _scalar(name: str, size: int) -> int:
    return 8 + 2 * len(name) + size


def row_bytes(raw: RawEvent, *, sharded: bool = False) -> int:
    partition = len(raw.stream_type) + (_SHARD_SUFFIX if sharded else 0)
    size = 4 + 2 * (partition + len(raw.stream_id) + _ROW_KEY_SUFFIX)
    body = raw.body
    chunks = max(1, -(-len(body) // BODY_CHUNK_CHARS))
    size += sum(_string("Body" if i == 0 else f"Body_{i}", "") for i in range(chunks)) + 2 * len(body)
    size += _string("EventType", raw.event_type) + _string("SourceId", raw.stream_id)
    size += _string("SourceType", raw.stream_type) + _string("EventId", raw.event_id)
    size += _scalar("Version", 4) + _scalar("SchemaVersion", 4) + _scalar("When", 8) + _scalar("Timestamp", 8)
    for name, value in (
        ("Who", raw.who),
        ("CausationId", raw.causation_id),
        ("CorrelationId", raw.correlation_id),
        ("TenantId", raw.tenant_id),
        ("EncryptionKeyId", raw.encryption_key_id),
    ):
        if value is not None:
            size += _string(name, value)
    return size
