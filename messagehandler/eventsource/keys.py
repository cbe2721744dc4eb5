"""Validation of stream types and ids, shared by every event source so they refuse the same input.

The rules are Table Storage's key rules (the strictest store), applied everywhere: an id that works
against the in-memory source in tests must not fail later in production.

Lengths are counted in UTF-16 code units, as Table Storage stores strings: an emoji is two units.
Azure allows a key of 1 KiB, which is 512 UTF-16 units; Azurite refuses a key longer than 512 units
(JavaScript string length). The row key adds `_` and ten digits of version to the stream id, and a
sharded partition key adds `-` and two digits to the stream type. A lone surrogate cannot be encoded
in UTF-16 or UTF-8 at all, so no store can keep it.
"""

from __future__ import annotations

import re

from messagehandler.errors import MessageHandlerError

MAX_KEY_UNITS = 512
"""UTF-16 code units in a PartitionKey or RowKey: Azure's 1 KiB, and Azurite's 512."""

VERSION_DIGITS = 10
ROW_KEY_SUFFIX_LENGTH = 1 + VERSION_DIGITS
SHARD_SUFFIX_LENGTH = 3
MAX_STREAM_ID_LENGTH = MAX_KEY_UNITS - ROW_KEY_SUFFIX_LENGTH
MAX_STREAM_TYPE_LENGTH = MAX_KEY_UNITS - SHARD_SUFFIX_LENGTH

_FORBIDDEN = re.compile(r"[/\\#?\x00-\x1f\x7f-\x9f]")


class InvalidKeyError(MessageHandlerError, ValueError):
    """A stream type or stream id cannot be stored as a Table Storage key."""


def _units(kind: str, value: str) -> int:
    if value.isascii():
        return len(value)
    try:
        return len(value.encode("utf-16-le")) // 2
    except UnicodeEncodeError as error:
        raise InvalidKeyError(
            f"{kind} {value!r} holds a lone surrogate {value[error.start]!r} at position {error.start}, "
            "which no store can encode"
        ) from None


def _check(kind: str, value: object, limit: int) -> None:
    if not isinstance(value, str) or not value:
        raise InvalidKeyError(f"{kind} must be a non-empty string, got {value!r}")
    units = _units(kind, value)
    if units > limit:
        raise InvalidKeyError(
            f"{kind} {value[:40]!r}... is {units} UTF-16 units long ({len(value)} characters); the limit is {limit}"
        )
    bad = _FORBIDDEN.search(value)
    if bad:
        raise InvalidKeyError(
            f"{kind} {value!r} contains {bad.group()!r} at position {bad.start()}: "
            "keys may not contain '/', '\\', '#', '?' or control characters"
        )


RESERVED_PREFIX = "$"
"""Row keys starting with `$` belong to messagehandler itself (the outbox), never to a stream."""


def validate_stream(stream_type: str, stream_id: str) -> None:
    """Raise `InvalidKeyError` unless the stream type and id can be Table Storage keys."""
    _check("stream type", stream_type, MAX_STREAM_TYPE_LENGTH)
    _check(f"stream id of {stream_type}", stream_id, MAX_STREAM_ID_LENGTH)
    if stream_id.startswith(RESERVED_PREFIX):
        raise InvalidKeyError(
            f"stream id {stream_id!r} of {stream_type} starts with '$', which is reserved for the outbox"
        )
