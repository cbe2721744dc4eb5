"""Validation of stream types and ids, shared by every event source so they refuse the same input.

The rules are Table Storage's key rules (the strictest store), applied everywhere: an id that works
against the in-memory source in tests must not fail later in production.
"""

from __future__ import annotations

import re

from messagehandler.errors import MessageHandlerError

MAX_KEY_LENGTH = 512
"""Azure allows 1 KiB per key; Azurite allows 512 characters, so 512 is what works everywhere."""

VERSION_DIGITS = 10
ROW_KEY_SUFFIX_LENGTH = 1 + VERSION_DIGITS
SHARD_SUFFIX_LENGTH = 3
MAX_STREAM_ID_LENGTH = MAX_KEY_LENGTH - ROW_KEY_SUFFIX_LENGTH
MAX_STREAM_TYPE_LENGTH = MAX_KEY_LENGTH - SHARD_SUFFIX_LENGTH

_FORBIDDEN = re.compile(r"[/\\#?\x00-\x1f\x7f-\x9f]")


class InvalidKeyError(MessageHandlerError, ValueError):
    """A stream type or stream id cannot be stored as a Table Storage key."""


def _check(kind: str, value: object, limit: int) -> None:
    if not isinstance(value, str) or not value:
        raise InvalidKeyError(f"{kind} must be a non-empty string, got {value!r}")
    if len(value) > limit:
        raise InvalidKeyError(f"{kind} {value[:40]!r}... is {len(value)} characters long; the limit is {limit}")
    bad = _FORBIDDEN.search(value)
    if bad:
        raise InvalidKeyError(
            f"{kind} {value!r} contains {bad.group()!r} at position {bad.start()}: "
            "keys may not contain '/', '\\', '#', '?' or control characters"
        )


RESERVED_PREFIX = "$"
"""Row keys starting with `$` belong to messagehandler itself (the outbox), never to a stream."""


def validate_stream(stream_type: str, stream_id: str) -> None:
    _check("stream type", stream_type, MAX_STREAM_TYPE_LENGTH)
    _check(f"stream id of {stream_type}", stream_id, MAX_STREAM_ID_LENGTH)
    if stream_id.startswith(RESERVED_PREFIX):
        raise InvalidKeyError(
            f"stream id {stream_id!r} of {stream_type} starts with '$', which is reserved for the outbox"
        )
