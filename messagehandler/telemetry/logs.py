"""Log records that correlate: the stream, version, event id and trace id as fields of the record.

The library's log calls about an event pass `extra=log_fields(...)`, so a record carries `stream`,
`version`, `event_id`, `trace_id` and `span_id` as attributes: a JSON formatter (the worker's
`--log-format json`, or the Azure Monitor exporter, which keeps them as custom dimensions) turns them
into fields an operator can filter on. `TraceContextFilter` gives every other record the same five
attributes (None where unknown, the current span's ids for the trace), so a text format may name them.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from messagehandler.telemetry.propagation import current_ids, trace_id_of

if TYPE_CHECKING:
    from messagehandler.telemetry.shapes import Entry, Envelope, Recorded

FIELDS = ("stream", "version", "event_id", "trace_id", "span_id")
"""The attributes `log_fields` sets and `TraceContextFilter` guarantees on a record."""


def log_fields(
    *,
    event: Recorded | None = None,
    envelope: Envelope | None = None,
    entry: Entry | None = None,
    stream: str | None = None,
    version: int | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    """The `extra=` of a log call about an event, an envelope or an outbox entry.

    The trace id is the envelope's (the producer's trace) or the outbox entry's when given, else the
    current span's.
    """
    traceparent = None
    if event is not None:
        meta = event.metadata
        stream, version, event_id = meta.stream, meta.version, meta.event_id
    elif envelope is not None:
        stream, version, event_id = envelope.subject, envelope.stream_version, envelope.id
        traceparent = envelope.traceparent
    elif entry is not None:
        stream, version = entry.stream, entry.to_version
        traceparent = entry.traceparent
    trace_id, span_id = current_ids()
    if traceparent is not None and (carried := trace_id_of(traceparent)) is not None:
        trace_id, span_id = carried, traceparent[36:52]
    return {"stream": stream, "version": version, "event_id": event_id, "trace_id": trace_id, "span_id": span_id}


class TraceContextFilter(logging.Filter):
    """Adds `stream`, `version`, `event_id`, `trace_id` and `span_id` to records that lack them.

    Attach it to a handler (`handler.addFilter(TraceContextFilter())`) whose format names them, for
    example `%(asctime)s %(levelname)s %(name)s [trace %(trace_id)s] %(message)s`; it never drops a record.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "trace_id", None) is None:
            record.trace_id, record.span_id = current_ids()
        for name in FIELDS:
            if not hasattr(record, name):
                setattr(record, name, None)
        return True
