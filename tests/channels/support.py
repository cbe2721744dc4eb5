"""Envelopes for channel tests: the testing kit's helpers, under the names these tests import."""

from __future__ import annotations

from messagehandler.testing.envelopes import (
    SERIALIZER,
    Arrived,
    ItemAdded,
    envelopes,
    interleaved,
    structured_size,
    with_wire_size,
)

__all__ = ["SERIALIZER", "Arrived", "ItemAdded", "envelopes", "interleaved", "structured_size", "with_wire_size"]
