"""The service limits Azure enforces and Azurite does not, checked before anything is sent.

Sizes follow Microsoft's entity size formula (strings counted as UTF-16), rounded up, so a row that
passes here is accepted by Azure. The transaction payload is estimated from the JSON the SDK sends
plus a generous per-operation allowance for the multipart headers.
"""

from __future__ import annotations

from collections.abc import Sequence
from json.encoder import encode_basestring_ascii
from typing import Any

from messagehandler.eventsource.azure_tables.errors import (
    EntityTooLargeError,
    TooManyEntitiesError,
    TooManyPropertiesError,
    TransactionTooLargeError,
    VersionLimitError,
)

MAX_TRANSACTION_ENTITIES = 100
MAX_TRANSACTION_BYTES = 4 * 1024 * 1024
MAX_ENTITY_BYTES = 1024 * 1024
MAX_CUSTOM_PROPERTIES = 252
MAX_VERSION = 2**31 - 1

OPERATION_OVERHEAD_BYTES = 2048
"""Multipart boundary, request line with the table URL, and headers of one operation, rounded up."""
TRANSACTION_OVERHEAD_BYTES = 4096

_SYSTEM_PROPERTIES = ("PartitionKey", "RowKey")
_DATETIME_JSON_BYTES = 64
"""`"2026-01-01T00:00:00.000000Z"` plus its `@odata.type` annotation."""


def _utf16_bytes(text: str) -> int:
    return 2 * len(text) if text.isascii() else len(text.encode("utf-16-le"))


def entity_bytes(entity: dict[str, Any]) -> int:
    """4 + 2 * len(keys) + per property 8 + 2 * len(name) + size of the value (Microsoft's formula)."""
    size = 4 + _utf16_bytes(entity["PartitionKey"]) + _utf16_bytes(entity["RowKey"])
    for name, value in entity.items():
        if name in _SYSTEM_PROPERTIES:
            continue
        size += 8 + 2 * len(name)
        size += 4 + _utf16_bytes(value) if isinstance(value, str) else 8
    return size


def _json_bytes_bound(entity: dict[str, Any]) -> int:
    """An upper bound without encoding: at most 12 bytes per character (`\\ud83d\\ude00`)."""
    size = 2
    for name, value in entity.items():
        size += 2 * len(name) + 48
        size += 12 * len(value) + 2 if isinstance(value, str) else _DATETIME_JSON_BYTES
    return size


def _json_bytes(entity: dict[str, Any]) -> int:
    size = 2
    for name, value in entity.items():
        size += 2 * len(name) + 48
        size += len(encode_basestring_ascii(value)) if isinstance(value, str) else _DATETIME_JSON_BYTES
    return size


def check_transaction(stream: str, entities: Sequence[dict[str, Any]]) -> None:
    """Raise a `TableLimitError` naming the limit and the stream when Azure would refuse the transaction."""
    if len(entities) > MAX_TRANSACTION_ENTITIES:
        raise TooManyEntitiesError(stream, len(entities), MAX_TRANSACTION_ENTITIES)
    bound = TRANSACTION_OVERHEAD_BYTES
    for entity in entities:
        version = entity.get("Version", 0)
        if version > MAX_VERSION:
            raise VersionLimitError(stream, version, MAX_VERSION, version=version)
        properties = len(entity) - len(_SYSTEM_PROPERTIES)
        if properties > MAX_CUSTOM_PROPERTIES:
            raise TooManyPropertiesError(stream, properties, MAX_CUSTOM_PROPERTIES, version=version)
        size = entity_bytes(entity)
        if size > MAX_ENTITY_BYTES:
            raise EntityTooLargeError(stream, size, MAX_ENTITY_BYTES, version=version)
        bound += OPERATION_OVERHEAD_BYTES + _json_bytes_bound(entity)
    if bound < MAX_TRANSACTION_BYTES:
        return
    payload = TRANSACTION_OVERHEAD_BYTES + sum(OPERATION_OVERHEAD_BYTES + _json_bytes(e) for e in entities)
    if payload >= MAX_TRANSACTION_BYTES:
        raise TransactionTooLargeError(stream, payload, MAX_TRANSACTION_BYTES)
