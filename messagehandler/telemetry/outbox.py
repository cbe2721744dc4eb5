"""Instrumentation of the outbox: the relay continues each entry's trace, and measures the backlog.

An outbox row keeps the trace context of the append that wrote it (or last extended it), so the span of
relaying it is a child of that append: a crash between commit and publish leaves a trace that goes on
when the relay publishes, with a link to the relay's own pass. The backlog gauges are set at every
relay pass, per stream type: the entries the pass left pending (it could not publish them, or an append
extended them meanwhile), and the age of the oldest of them (from the commit that created it, kept when
later appends extend it).
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from messagehandler.telemetry.attributes import STREAM_ID, STREAM_TYPE, STREAM_VERSION
from messagehandler.telemetry.metrics import instruments
from messagehandler.telemetry.propagation import context_of
from messagehandler.telemetry.providers import AVAILABLE, tracer
from messagehandler.telemetry.spans import NO_SPAN, current_span

if TYPE_CHECKING:
    from opentelemetry.trace import Span

    from messagehandler.telemetry.shapes import Entry

if AVAILABLE:
    from opentelemetry import trace as _trace
    from opentelemetry.trace import Link, SpanKind


def relaying(entry: Entry) -> contextlib.AbstractContextManager[Span | None]:
    """Span `outbox.relay {type}` for publishing one entry, parented by the append that wrote it."""
    found = tracer()
    if found is None:
        return NO_SPAN
    attributes: dict[str, str | int] = {
        STREAM_TYPE: entry.stream_type,
        STREAM_ID: entry.stream_id,
        STREAM_VERSION: entry.to_version,
    }
    parent = context_of(entry.traceparent, entry.tracestate)
    links = []
    if parent is not None:
        here = _trace.get_current_span().get_span_context()
        if here.is_valid:
            links.append(Link(here))
    return current_span(
        found, f"outbox.relay {entry.stream_type}", SpanKind.INTERNAL, attributes, parent=parent, links=links
    )


class Backlog:
    """Counts the entries of one stream type a relay pass left pending; `record()` sets the gauges."""

    __slots__ = ("entries", "oldest", "stream_type")

    def __init__(self, stream_type: str) -> None:
        self.stream_type = stream_type
        self.entries = 0
        self.oldest: datetime | None = None

    def add(self, entry: Entry) -> None:
        self.entries += 1
        if entry.since is not None and (self.oldest is None or entry.since < self.oldest):
            self.oldest = entry.since

    def record(self) -> None:
        measures = instruments()
        if measures is None:
            return
        attributes = {STREAM_TYPE: self.stream_type}
        measures.outbox_entries.set(self.entries, attributes)
        age = 0.0 if self.oldest is None else max(0.0, (datetime.now(UTC) - self.oldest).total_seconds())
        measures.outbox_oldest_age.set(age, attributes)
