"""W3C trace context in and out of what outlives a span: CloudEvents envelopes and outbox rows.

An envelope carries `traceparent` and `tracestate` as the CloudEvents distributed-tracing extension
defines them: the context in which the event was published, so the consumer's span continues the
producer's trace on every binding (they are ordinary extension attributes). An outbox row keeps the
context of the append that wrote it, so a relay publishing after a crash continues that trace too.
Only the W3C trace context travels, not baggage: an envelope is stored and forwarded, and baggage is
the caller's to propagate on its own transports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from messagehandler.telemetry.providers import AVAILABLE, tracer

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.trace import SpanContext

if AVAILABLE:
    from opentelemetry import trace as _trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    _PROPAGATOR = TraceContextTextMapPropagator()

MAX_TRACESTATE_CHARS = 512
"""Longer `tracestate` values lose list members from the end, as W3C Trace Context allows; it keeps outbox
rows and messages small (Table Storage counts every column against the entity and transaction limits)."""


@dataclass(frozen=True, slots=True)
class TraceContext:
    """A W3C `traceparent` and its optional `tracestate`, as text."""

    traceparent: str
    tracestate: str | None = None

    @property
    def trace_id(self) -> str | None:
        """The 32 hex digits of the trace id, or None when `traceparent` is not well formed."""
        return trace_id_of(self.traceparent)


def current_trace() -> TraceContext | None:
    """The context of the current span; None when tracing is not configured or no span is active."""
    if tracer() is None:
        return None
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    traceparent = carrier.get("traceparent")
    if traceparent is None:
        return None
    return TraceContext(traceparent, _bounded(carrier.get("tracestate")))


def context_of(traceparent: str | None, tracestate: str | None = None) -> Context | None:
    """An OpenTelemetry context whose remote parent is the given trace context; None if absent or malformed."""
    if traceparent is None or not AVAILABLE:
        return None
    carrier = {"traceparent": traceparent}
    if tracestate:
        carrier["tracestate"] = tracestate
    context = _PROPAGATOR.extract(carrier)
    return context if _trace.get_current_span(context).get_span_context().is_valid else None


def span_context_of(traceparent: str | None, tracestate: str | None = None) -> SpanContext | None:
    """The remote span context, for a link; None if absent or malformed."""
    context = context_of(traceparent, tracestate)
    return None if context is None else _trace.get_current_span(context).get_span_context()


def trace_id_of(traceparent: str | None) -> str | None:
    """The trace id of a `traceparent` (`00-{trace id}-{span id}-{flags}`), or None when it is not one."""
    if traceparent is None or len(traceparent) < 55 or traceparent[2] != "-":
        return None
    trace_id = traceparent[3:35]
    if trace_id == "0" * 32 or any(c not in "0123456789abcdef" for c in trace_id):
        return None
    return trace_id


def current_ids() -> tuple[str | None, str | None]:
    """Trace and span id of the current span as hex, for log records; (None, None) without one."""
    if not AVAILABLE:
        return None, None
    context = _trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None, None
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"


def _bounded(tracestate: str | None) -> str | None:
    if not tracestate:
        return None
    while len(tracestate) > MAX_TRACESTATE_CHARS and "," in tracestate:
        tracestate = tracestate.rsplit(",", 1)[0]
    return tracestate if len(tracestate) <= MAX_TRACESTATE_CHARS else None
