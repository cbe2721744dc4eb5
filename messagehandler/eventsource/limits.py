"""Table Storage's service limits, checked before anything is sent, by every event source.

Azure enforces these and Azurite only some, so the Table Storage source checks them itself; the
in-memory source checks the same rows by default, so a test that appends a 2 MB event or 150 events
in one flush fails as production would (`InMemoryEventSource(limits=None)` turns that off).

Sizes follow Microsoft's entity size formula with strings counted in UTF-16 (as Azure stores them),
rounded up, so a row that passes here is accepted by Azure. The transaction payload is estimated
from the JSON the SDK sends plus a generous per-operation allowance for the multipart headers.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii
from typing import Any

from messagehandler.errors import UnstorableEventError
from messagehandler.events.event import Event
from messagehandler.eventsource.limit_errors import (
    EntityTooLargeError,
    PropertyTooLargeError,
    TableLimitError,
    TooManyEntitiesError,
    TooManyPropertiesError,
    TransactionTooLargeError,
    VersionLimitError,
)

_log = logging.getLogger("messagehandler.eventsource")

MAX_VERSION = 2**31 - 1
"""The `Version` column is an Int32."""

OPERATION_OVERHEAD_BYTES = 2048
"""Multipart boundary, request line with the table URL, and headers of one operation, rounded up."""
TRANSACTION_OVERHEAD_BYTES = 4096

_SYSTEM_PROPERTIES = ("PartitionKey", "RowKey")
_DATETIME_JSON_BYTES = 64
"""`"2026-01-01T00:00:00.000000Z"` plus its `@odata.type` annotation."""


@dataclass(frozen=True, slots=True)
class TableLimits:
    """The limits of one Table Storage entity group transaction and of the entities in it.

    The defaults are Azure's published limits; Azurite's are the same or looser for these. A string
    property holds 64 KiB, that is 32,768 UTF-16 code units (Azurite counts the same units).
    """

    entities_per_transaction: int = 100
    transaction_bytes: int = 4 * 1024 * 1024
    entity_bytes: int = 1024 * 1024
    properties_per_entity: int = 252
    string_units: int = 32 * 1024


DEFAULT_LIMITS = TableLimits()


def utf16_units(text: str) -> int:
    """The length of `text` in UTF-16 code units; `UnicodeEncodeError` for a lone surrogate."""
    return len(text) if text.isascii() else len(text.encode("utf-16-le")) // 2


def entity_bytes(entity: dict[str, Any]) -> int:
    """4 + 2 * len(keys) + per property 8 + 2 * len(name) + size of the value (Microsoft's formula)."""
    size = 4 + 2 * utf16_units(entity["PartitionKey"]) + 2 * utf16_units(entity["RowKey"])
    for name, value in entity.items():
        if name in _SYSTEM_PROPERTIES:
            continue
        size += 8 + 2 * len(name)
        size += 4 + 2 * utf16_units(value) if isinstance(value, str) else 8
    return size


def _json_bytes(entity: dict[str, Any]) -> int:
    size = 2
    for name, value in entity.items():
        size += 2 * len(name) + 48
        size += len(encode_basestring_ascii(value)) if isinstance(value, str) else _DATETIME_JSON_BYTES
    return size


_SURE_STRING_CHARS = 16 * 1024
_SURE_TOTAL_CHARS = 200_000


def surely_within(events: Sequence[Event], bodies: Sequence[str], limits: TableLimits | None) -> bool:
    """True when the rows of these events cannot exceed the default limits, without building them.

    With the metadata strings of each event at most 16,384 characters together (so each at most
    32,768 UTF-16 units) and fewer than 200,000 characters in all, a row is under 4 x 200,000 bytes
    plus keys and names (< 1 MiB), has fewer than 30 properties, and the transaction's JSON is under
    12 bytes a character plus per-row overheads (< 4 MiB); 99 rows leave room for the outbox row.
    Anything else gets the full check.
    """
    if limits is None:
        return True
    if (limits is not DEFAULT_LIMITS and limits != DEFAULT_LIMITS) or len(events) >= limits.entities_per_transaction:
        return False
    total = 0
    for event, body in zip(events, bodies, strict=True):
        meta = event.metadata
        texts = (
            len(meta.event_id)
            + len(meta.event_type)
            + len(meta.who or "")
            + len(meta.causation_id or "")
            + len(meta.correlation_id or "")
            + len(meta.tenant_id or "")
            + len(meta.encryption_key_id or "")
        )
        if texts > _SURE_STRING_CHARS:  # all of them together bound each one
            return False
        total += len(body) + texts
    return total < _SURE_TOTAL_CHARS


def check_rows(
    stream: str,
    entities: Sequence[dict[str, Any]],
    limits: TableLimits = DEFAULT_LIMITS,
    *,
    outbox_row: dict[str, Any] | None = None,
) -> None:
    """Raise a `TableLimitError` naming the limit, the stream and the version when Azure would refuse.

    `entities` are an append's event rows; `outbox_row`, when the outbox is on, travels in the same
    transaction and takes one of its entities. Every string column is checked against the string
    property limit (the body is split into columns that fit it).
    """
    rows = list(entities) if outbox_row is None else [*entities, outbox_row]
    if len(rows) > limits.entities_per_transaction:
        error = TooManyEntitiesError(stream, len(rows), limits.entities_per_transaction)
        if outbox_row is not None:
            error.add_note(
                "one of them is the stream's outbox row: with the outbox on, one append holds at most "
                f"{limits.entities_per_transaction - 1} events"
            )
        raise error
    bound = TRANSACTION_OVERHEAD_BYTES
    for entity in rows:
        bound += OPERATION_OVERHEAD_BYTES + _check_entity(stream, entity, limits)
    if bound < limits.transaction_bytes:
        return
    payload = TRANSACTION_OVERHEAD_BYTES + sum(OPERATION_OVERHEAD_BYTES + _json_bytes(e) for e in rows)
    if payload >= limits.transaction_bytes:
        raise TransactionTooLargeError(stream, payload, limits.transaction_bytes)


def snapshot_fits(
    stream: str,
    entities: Sequence[dict[str, Any]],
    snapshot_row: dict[str, Any],
    limits: TableLimits = DEFAULT_LIMITS,
    *,
    outbox_row: dict[str, Any] | None = None,
) -> bool:
    """Whether a snapshot's row fits in the transaction of these rows; logged when it does not.

    The events' rows are checked before (their failure is the append's); a snapshot that does not
    fit is only left out, since loading replays the events instead.
    """
    try:
        check_rows(stream, [*entities, snapshot_row], limits, outbox_row=outbox_row)
    except (TableLimitError, UnstorableEventError) as error:
        _log.warning("snapshot of %s at version %s left out of the append: %s", stream, snapshot_row["Version"], error)
        return False
    return True


def _check_entity(stream: str, entity: dict[str, Any], limits: TableLimits) -> int:
    """Check one row's version, properties, strings and size in one pass; return a bound of its JSON bytes."""
    version = entity.get("Version", 0)
    if version > MAX_VERSION:
        raise VersionLimitError(stream, version, MAX_VERSION, version=version)
    properties = len(entity) - len(_SYSTEM_PROPERTIES)
    if properties > limits.properties_per_entity:
        raise TooManyPropertiesError(stream, properties, limits.properties_per_entity, version=version)
    size, json_bound, string_units = 4, 2, limits.string_units
    for name, value in entity.items():
        json_bound += 2 * len(name) + 48
        if not isinstance(value, str):
            size += 16 + 2 * len(name)
            json_bound += _DATETIME_JSON_BYTES
            continue
        json_bound += 12 * len(value) + 2
        units = len(value) if value.isascii() else _units_of(stream, entity, name, value)
        if name in _SYSTEM_PROPERTIES:
            size += 2 * units
            continue
        if units > string_units:
            raise PropertyTooLargeError(stream, units, string_units, version=entity.get("Version"), column=name)
        size += 12 + 2 * len(name) + 2 * units
    if size > limits.entity_bytes:
        raise EntityTooLargeError(stream, size, limits.entity_bytes, version=version)
    return json_bound


def _units_of(stream: str, entity: dict[str, Any], name: str, value: str) -> int:
    try:
        return utf16_units(value)
    except UnicodeEncodeError as error:
        raise UnstorableEventError(
            str(entity.get("EventType", "?")),
            f"holds a lone surrogate {value[error.start]!r} at position {error.start}, which Table Storage cannot store",
            field=name,
            stream=stream,
            version=entity.get("Version"),
        ) from None
