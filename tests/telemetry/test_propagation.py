"""W3C trace context as envelopes and outbox rows carry it: written, read back, and ignored when malformed."""

from __future__ import annotations

from dataclasses import replace

import pytest
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState

from messagehandler.channels.envelope import CloudEvent
from messagehandler.channels.volatile.http_events import decode_http_request
from messagehandler.telemetry import current_trace
from messagehandler.telemetry.propagation import MAX_TRACESTATE_CHARS, context_of, trace_id_of
from messagehandler.testing.envelopes import envelopes
from tests.telemetry.conftest import Telemetry

TRACEPARENT = "00-" + "ab" * 16 + "-" + "cd" * 8 + "-01"


def test_the_http_binary_mode_reads_the_trace_context_from_ce_headers() -> None:
    (envelope,) = envelopes("o-1", 1)
    headers = {f"ce-{name}": str(value) for name, value in envelope.attributes().items() if name != "datacontenttype"}
    headers |= {"ce-traceparent": TRACEPARENT, "ce-tracestate": "vendor=a%2Cb", "content-type": "application/json"}

    (decoded,) = decode_http_request(headers, envelope.data.encode()).envelopes

    assert (decoded.traceparent, decoded.tracestate) == (TRACEPARENT, "vendor=a,b")


def test_the_structured_form_keeps_the_trace_context_and_leaves_it_out_when_absent() -> None:
    (envelope,) = envelopes("o-1", 1)
    traced = replace(envelope, traceparent=TRACEPARENT, tracestate="vendor=x")

    assert CloudEvent.from_json(traced.to_json()) == traced
    assert "traceparent" not in envelope.to_json()


@pytest.mark.parametrize(
    "traceparent",
    [None, "", "garbage", "00-" + "0" * 32 + "-" + "cd" * 8 + "-01", "00-" + "AB" * 16 + "-" + "cd" * 8 + "-01"],
)
def test_a_missing_or_malformed_traceparent_gives_no_parent(traceparent: str | None) -> None:
    assert context_of(traceparent) is None
    assert trace_id_of(traceparent) is None


def test_a_long_tracestate_loses_members_from_the_end(telemetry: Telemetry) -> None:
    members = [f"v{n:02}=" + "x" * 40 for n in range(30)]
    state = TraceState([tuple(member.split("=", 1)) for member in members])  # type: ignore[misc]
    context = SpanContext(0xAB, 0xCD, is_remote=True, trace_flags=TraceFlags(1), trace_state=state)

    with trace.use_span(NonRecordingSpan(context)):
        captured = current_trace()

    assert captured is not None
    assert captured.traceparent == f"00-{0xAB:032x}-{0xCD:016x}-01"
    assert captured.tracestate is not None
    assert len(captured.tracestate) <= MAX_TRACESTATE_CHARS
    assert captured.tracestate == ",".join(members[: len(captured.tracestate.split(","))])
    assert captured.trace_id == f"{0xAB:032x}"
