"""One event as one plain table row, and back: the row layout, shared by every event source.

The in-memory source builds the same rows to check them against Table Storage's limits, so this module
needs no Azure SDK: a row read back is any mapping, with the SDK's `metadata` (ETag, Timestamp) if any.

Every column is a plain Edm type (strings, Int32, DateTime) so the portal, Storage Explorer and the
.NET and Node SDKs show readable rows. The body is the serializer's text; when it is longer than one
string property holds it continues in `Body_1`, `Body_2`, ... and is joined on read.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any
from uuid import UUID

from messagehandler.errors import SerializationError
from messagehandler.events.event import Event
from messagehandler.events.metadata import EventMetadata, stored_metadata
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
_CHUNK_PREFIX = f"{BODY}_"
_CHUNK_PREFIX_LENGTH = len(_CHUNK_PREFIX)
_NO_METADATA: dict[str, Any] = {}


def version_of(value: Any) -> int:
    """A `Version` column as an int, whether stored as Int32 or as Int64 (the SDK wraps those in an EntityProperty)."""
    if type(value) is int:
        return value
    number = getattr(value, "value", value)
    if isinstance(number, bool) or not isinstance(number, int | str):
        raise TypeError(f"expected an Int32 or Int64, got {number!r}")
    return int(number)


def text_of(value: Any) -> str:
    """A string column that other clients may store as another Edm type (an `EventId` Guid) as text."""
    if type(value) is str:
        return value
    inner = getattr(value, "value", value)
    if isinstance(inner, str | UUID):
        return str(inner)
    raise TypeError(f"expected a string or a Guid, got {type(inner).__name__}")


def stream_of(row: Mapping[str, Any]) -> str:
    """The stream id a row belongs to: its `SourceId`, or the RowKey before the version when that is unusable."""
    source_id = row.get(SOURCE_ID)
    if type(source_id) is str:
        return source_id
    with contextlib.suppress(TypeError):
        if source_id is not None:
            return text_of(source_id)
    return str(row.get("RowKey", "")).rpartition("_")[0]


def version_in(row: Mapping[str, Any]) -> int | None:
    """A row's version from its `Version` column, or from its RowKey when the column is unusable."""
    with contextlib.suppress(KeyError, TypeError, ValueError):
        return version_of(row[VERSION])
    digits = str(row.get("RowKey", "")).rpartition("_")[2]
    return int(digits) if digits.isdigit() else None


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


def body_of(entity: Mapping[str, Any]) -> str:
    """The text of `Body`, joined with its continuation columns `Body_1`, `Body_2`, ... when there are any."""
    return text_of(entity[BODY]) if "Body_1" not in entity else _joined_body(entity)


def _joined_body(entity: Mapping[str, Any]) -> str:
    """The chunks `Body`, `Body_1`, `Body_2`, ... joined in the order of their numbers, whatever the column order.

    Other clients split a body by UTF-16 units (.NET `Substring`, JavaScript `slice`), which may cut a
    surrogate pair in two; each chunk then arrives with a lone surrogate at its edge, and the halves
    are paired again here.
    """
    numbered = sorted(
        (int(name[_CHUNK_PREFIX_LENGTH:]), chunk)
        for name, chunk in entity.items()
        if name.startswith(_CHUNK_PREFIX) and name[_CHUNK_PREFIX_LENGTH:].isdigit()
    )
    chunks = [text_of(entity[BODY]), *(text_of(chunk) for _, chunk in numbered)]
    body = "".join(chunks)
    if any(_splits_a_pair(left, right) for left, right in pairwise(chunks)):
        body = body.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
    return body


def _splits_a_pair(left: str, right: str) -> bool:
    return bool(left) and bool(right) and "\ud800" <= left[-1] <= "\udbff" and "\udc00" <= right[0] <= "\udfff"


def when_of(value: Any) -> datetime:
    """A `When` column stored as DateTime or as an ISO 8601 string (UTC when it names no offset)."""
    if isinstance(value, datetime):
        return value
    parsed = datetime.fromisoformat(text_of(value))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _optional_text(value: Any) -> str | None:
    return value if value is None or type(value) is str else text_of(value)


def from_entity(
    entity: Mapping[str, Any], stream_type: str, stored_at: datetime | None = None
) -> tuple[EventMetadata, str]:
    """Metadata (with the row's `Timestamp` as `stored_at`) and body text of one row.

    `stored_at` is the row's commit time when the caller decoded it; otherwise it is taken from the
    SDK entity's `metadata`.

    Rows other clients write in the documented layout are read as well: `Version` and `SchemaVersion`
    as Int32 or Int64, `EventId` (or any id) as a Guid or a string, `When` as a DateTime or an ISO
    string, and a body split anywhere in UTF-16.

    Raises:
        SerializationError: a column is missing or holds a value of no usable type; the message
            names the row and the column.
    """
    get = entity.get
    column = BODY
    try:
        body = body_of(entity)
        column = EVENT_ID
        event_id = text_of(entity[EVENT_ID])
        column = "EventType"
        event_type = text_of(entity["EventType"])
        column = SOURCE_ID
        source_id = text_of(entity[SOURCE_ID])
        column = VERSION
        version = version_of(entity[VERSION])
        column = "When"
        when = when_of(entity["When"])
        column = "SchemaVersion"
        schema_version = version_of(get("SchemaVersion", 1))
        column = "Who, CausationId, CorrelationId, TenantId or EncryptionKeyId"
        meta = stored_metadata(
            event_id,
            event_type,
            source_id,
            stream_type,
            version,
            when,
            _optional_text(get("Who")),
            _optional_text(get("CausationId")),
            _optional_text(get("CorrelationId")),
            _optional_text(get("TenantId")),
            schema_version,
            _optional_text(get("EncryptionKeyId")),
            stored_at if stored_at is not None else getattr(entity, "metadata", _NO_METADATA).get("timestamp"),
        )
    except KeyError as missing:
        raise SerializationError(
            f"row {entity.get('PartitionKey')!r}/{entity.get('RowKey')!r} of stream type {stream_type!r} "
            f"has no {missing.args[0]} column"
        ) from None
    except (TypeError, ValueError) as error:
        raise SerializationError(
            f"row {entity.get('PartitionKey')!r}/{entity.get('RowKey')!r} of stream type {stream_type!r} "
            f"has an unreadable {column} column ({type(entity.get(column)).__name__}): {error}"
        ) from None
    return meta, body
