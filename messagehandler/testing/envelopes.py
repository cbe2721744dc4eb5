"""Envelopes for channel tests, and the shape of what arrives at a channel's far end.

Needs nothing but the core, so tests of a single channel can use it without the contract suite.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any, NamedTuple

from messagehandler.channels.envelope import CloudEvent
from messagehandler.events.event import Event
from messagehandler.events.registry import EventTypeRegistry
from messagehandler.events.serialization import JsonEventSerializer
from messagehandler.testing.recording import recorded


class ItemAdded(Event, type_name="messagehandler.testing.ItemAdded"):
    sku: str
    note: str = ""


SERIALIZER = JsonEventSerializer(EventTypeRegistry([ItemAdded]))


def envelopes(
    stream_id: str, count: int, *, stream_type: str = "Order", note: str = "", start: int = 1
) -> list[CloudEvent]:
    """`count` envelopes of one stream, versions `start`, `start + 1`, ..., as the dispatcher would build them."""
    events = recorded(
        stream_type,
        stream_id,
        [ItemAdded(sku=f"sku-{start + i}", note=note) for i in range(count)],
        start_version=start,
        correlation_id="corr-1",
    )
    return [CloudEvent.from_event(event, SERIALIZER) for event in events]


def trace_context(stream_id: str, count: int = 2) -> list[CloudEvent]:
    """Envelopes carrying a W3C trace context (the CloudEvents distributed-tracing extension), as a traced
    dispatcher builds them: each with its own `traceparent` and a vendor `tracestate`."""
    return [
        replace(
            envelope,
            traceparent=f"00-{index + 1:032x}-{index + 1:016x}-01",
            tracestate=f"vendor=state-{index},other=x",
        )
        for index, envelope in enumerate(envelopes(stream_id, count))
    ]


def interleaved(*streams: list[CloudEvent]) -> list[CloudEvent]:
    """Round-robin merge, so a publish call mixes streams the way a multi-aggregate flush does."""
    merged: list[CloudEvent] = []
    for position in range(max(len(stream) for stream in streams)):
        merged.extend(stream[position] for stream in streams if position < len(stream))
    return merged


def structured_size(envelope: CloudEvent) -> int:
    """The size of the structured-mode CloudEvents JSON, how most channels measure an envelope."""
    return len(envelope.to_bytes())


def with_wire_size(
    template: CloudEvent, size: int, measure: Callable[[CloudEvent], int] = structured_size
) -> CloudEvent:
    """A copy of `template` that `measure` finds exactly `size` bytes long, padding the payload's `note`.

    Every wire form grows by one byte per ASCII character of the note, except where a length prefix
    widens (AMQP binary and batch framing grow by a few bytes past 255), so it measures until exact.
    """
    data = json.loads(template.data)
    note_length = 0
    for _ in range(4):
        data["note"] = "x" * note_length
        sized = replace(template, data=json.dumps(data, separators=(",", ":")))
        missing = size - measure(sized)
        if missing == 0:
            return sized
        note_length += missing
    raise AssertionError(f"no note length gives a wire size of exactly {size}")


class Arrived(NamedTuple):
    """What a consumer sees of one envelope, whatever the wire format: enough to compare with what was sent."""

    id: str
    type: str
    subject: str
    data: Any
    traceparent: str | None = None
    tracestate: str | None = None

    @classmethod
    def of(cls, envelope: CloudEvent) -> Arrived:
        data = json.loads(envelope.data)
        return cls(envelope.id, envelope.type, envelope.subject, data, envelope.traceparent, envelope.tracestate)
