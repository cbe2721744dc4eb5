"""Size limits every adapter enforces before it touches the wire.

An oversize envelope must fail the whole publish call before its first envelope is sent: the
outbox then keeps every event of the call, and nothing of it reaches a consumer twice or half.
So adapters encode everything first, check, and only then send.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from messagehandler.channels.envelope import CloudEvent
from messagehandler.channels.errors import EnvelopeTooLargeError


def encode_within_limit(
    channel: str,
    envelopes: Sequence[CloudEvent],
    limit: int,
    encode: Callable[[CloudEvent], bytes],
) -> list[bytes]:
    """Each envelope in its wire form, or `EnvelopeTooLargeError` for the first one over `limit` bytes."""
    encoded: list[bytes] = []
    for envelope in envelopes:
        body = encode(envelope)
        if len(body) > limit:
            raise EnvelopeTooLargeError(channel, envelope.id, len(body), limit)
        encoded.append(body)
    return encoded


def json_array_batches(bodies: Sequence[bytes], limit: int, *, separator: bytes = b",") -> list[list[int]]:
    """Split JSON bodies into consecutive runs whose JSON array (`[a<sep>b]`) stays within `limit` bytes.

    Returns index runs rather than joined bytes so callers can send either the bytes or the objects
    they came from. Order is kept; every body must already fit on its own.
    """
    batches: list[list[int]] = []
    current: list[int] = []
    size = 2
    for index, body in enumerate(bodies):
        extra = len(body) + (len(separator) if current else 0)
        if current and size + extra > limit:
            batches.append(current)
            current, size, extra = [], 2, len(body)
        current.append(index)
        size += extra
    if current:
        batches.append(current)
    return batches


def join_json_array(bodies: Sequence[bytes], *, separator: bytes = b",") -> bytes:
    return b"[" + separator.join(bodies) + b"]"
