"""MessagePack and LZ4 frame behind typed functions: the only module that imports the untyped libraries."""

from __future__ import annotations

from typing import Any

from messagehandler.extras import requires_extra

with requires_extra(
    "cache",
    "the event cache",
    (
        "msgpack",
        "lz4",
    ),
):
    import lz4.frame  # type: ignore[import-untyped]
    import msgpack  # type: ignore[import-untyped]


class DecodeError(ValueError):
    """Bytes that are not a valid LZ4 frame holding one MessagePack value."""


def encode(value: Any) -> bytes:
    packed: bytes = msgpack.packb(value, use_bin_type=True)
    compressed: bytes = lz4.frame.compress(packed, store_size=True)
    return compressed


def decode(data: bytes) -> Any:
    """Arrays come back as tuples: cheaper to build, and rows are never changed after reading."""
    try:
        packed = lz4.frame.decompress(data)
        return msgpack.unpackb(packed, use_list=False, raw=False, strict_map_key=True)
    except Exception as error:  # both libraries raise assorted types for malformed input
        raise DecodeError(f"{type(error).__name__}: {error}") from None
