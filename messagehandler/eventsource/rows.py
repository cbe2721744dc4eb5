"""One event as one plain table row, and back: the row layout, shared by every event source.

The in-memory source builds the same rows to check them against Table Storage's limits, so this module
needs no Azure SDK: a row read back is any mapping, with the SDK's `metadata` (ETag, Timestamp) if any.

Every column is a plain Edm type (strings, Int32, DateTime) so the portal, Storage Explorer and the
.NET and Node SDKs show readable rows. The body is the serializer's text; when it is longer than one
string property holds it continues in `Body_1`, `Body_2`, ... and is joined on read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from messagehandler.errors import SerializationError
from messagehandler.events.event import Event
from messagehandler.events.metadata import EventMetadata
from messagehandler.eventsource.keys import VERSION_DIGITS

BODY = "Body"
BODY_CHUNK_CHARS = 32_000
"""Azure allows 64 KiB (32K UTF-16 units) per string property; Azurite rejects more than 32K characters."""

STREAM_END = ":"
"""Sorts after every digit: `{id}_:` is just past the last RowKey of stream `id`."""

SOURCE_ID = "SourceId"
VERSION = "Version"
EVENT_ID = "EventId"

_CHUNK_NAMES = [BODY, *(f"{BODY}_{n}" for n in range(1, 300))]
_NO_METADATA: dict[str, Any] = {}


def version_of(value: Any) -> int:
    """A `Version` column as an int, whether stored as Int32 or as Int64 (the SDK wraps those in an EntityProperty)."""
    return int(getattr(value, "value", value))


def text_of(value: Any) -> str:
    """A string column that other clients may store as another Edm type (an `EventId` Guid) as text."""
    return value if isinstance(value, str) else str(getattr(value, "value", value))


def row_key(stream_id: str, version: int) -> str:
    return f"{stream_id}_{version:0{VERSION_DIGITS}d}"


def stream_end(stream_id: str) -> str:
    return f"{stream_id}_{STREAM_END}"


def body_column(index: int) -> str:
    return _CHUNK_NAMES[index] if index < len(_CHUNK_NAMES) else f"{BODY}_{index}"


def split_body(body: str, chunk_chars: int) -> list[str]:
    """Chunks that each fit one string property, counted in UTF-16 units as Azure counts them.

    A character outside the BMP takes two UTF-16 units, so non-ASCII bodies use half-size chunks:
    always within the limit, without measuring every character.
    """
    if len(body) <= chunk_chars // 2 or (len(body) <= chunk_chars and body.isascii()):
        return [body]
    size = chunk_chars if body.isascii() else chunk_chars // 2
    return [body[start : start + size] for start in range(0, len(body), size)]


def to_entity(partition: str, event: Event, body: str, chunk_chars: int) -> dict[str, Any]:
    meta = event.metadata
    entity: dict[str, Any] = {
        "PartitionKey": partition,
        "RowKey": row_key(meta.source_id, meta.version),
    }
    for index, chunk in enumerate(split_body(body, chunk_chars)):
        entity[body_column(index)] = chunk
    entity["EventType"] = meta.event_type
    entity[SOURCE_ID] = meta.source_id
    entity["SourceType"] = meta.source_type
    entity[VERSION] = meta.version
    entity[EVENT_ID] = meta.event_id
    entity["When"] = meta.when
    entity["SchemaVersion"] = meta.schema_version
    if meta.who is not None:
        entity["Who"] = meta.who
    if meta.causation_id is not None:
        entity["CausationId"] = meta.causation_id
    if meta.correlation_id is not None:
        entity["CorrelationId"] = meta.correlation_id
    if meta.tenant_id is not None:
        entity["TenantId"] = meta.tenant_id
    if meta.encryption_key_id is not None:
        entity["EncryptionKeyId"] = meta.encryption_key_id
    return entity


def _joined_body(entity: Mapping[str, Any]) -> str:
    chunks = [entity[BODY]]
    index = 1
    while (chunk := entity.get(body_column(index))) is not None:
        chunks.append(chunk)
        index += 1
    return "".join(chunks)


def from_entity(entity: Mapping[str, Any], stream_type: str) -> tuple[EventMetadata, str]:
    """Metadata (with the row's `Timestamp` as `stored_at`) and body text of one row."""
    get = entity.get
    try:
        body = entity[BODY] if "Body_1" not in entity else _joined_body(entity)
        meta = EventMetadata(
            event_id=entity[EVENT_ID],
            event_type=entity["EventType"],
            source_id=entity[SOURCE_ID],
            source_type=stream_type,
            version=entity[VERSION],
            when=entity["When"],
            who=get("Who"),
            causation_id=get("CausationId"),
            correlation_id=get("CorrelationId"),
            tenant_id=get("TenantId"),
            schema_version=get("SchemaVersion", 1),
            encryption_key_id=get("EncryptionKeyId"),
            stored_at=getattr(entity, "metadata", _NO_METADATA).get("timestamp"),
        )
    except KeyError as missing:
        raise SerializationError(
            f"row {entity.get('PartitionKey')!r}/{entity.get('RowKey')!r} of stream type {stream_type!r} "
            f"has no {missing.args[0]} column"
        ) from None
    return meta, body
