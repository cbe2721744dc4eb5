"""Log records that correlate, and attribute names that follow the semantic conventions."""

from __future__ import annotations

import io
import json
import logging
from dataclasses import replace

import pytest
from opentelemetry import trace
from opentelemetry.semconv._incubating.attributes import cloudevents_attributes, messaging_attributes
from opentelemetry.semconv.attributes import db_attributes, error_attributes, server_attributes

from messagehandler.telemetry import FIELDS, TraceContextFilter, log_fields
from messagehandler.telemetry import attributes as names
from messagehandler.testing.envelopes import envelopes
from messagehandler.worker.logs import JsonFormatter
from tests.telemetry.conftest import Telemetry
from tests.telemetry.support import hex_ids


def test_the_attribute_names_are_those_of_the_semantic_conventions_package() -> None:
    conventions = {
        "DB_SYSTEM_NAME": db_attributes.DB_SYSTEM_NAME,
        "DB_NAMESPACE": db_attributes.DB_NAMESPACE,
        "DB_COLLECTION_NAME": db_attributes.DB_COLLECTION_NAME,
        "DB_OPERATION_NAME": db_attributes.DB_OPERATION_NAME,
        "DB_OPERATION_BATCH_SIZE": db_attributes.DB_OPERATION_BATCH_SIZE,
        "SERVER_ADDRESS": server_attributes.SERVER_ADDRESS,
        "SERVER_PORT": server_attributes.SERVER_PORT,
        "ERROR_TYPE": error_attributes.ERROR_TYPE,
        "MESSAGING_SYSTEM": messaging_attributes.MESSAGING_SYSTEM,
        "MESSAGING_DESTINATION_NAME": messaging_attributes.MESSAGING_DESTINATION_NAME,
        "MESSAGING_OPERATION_TYPE": messaging_attributes.MESSAGING_OPERATION_TYPE,
        "MESSAGING_OPERATION_NAME": messaging_attributes.MESSAGING_OPERATION_NAME,
        "MESSAGING_BATCH_MESSAGE_COUNT": messaging_attributes.MESSAGING_BATCH_MESSAGE_COUNT,
        "MESSAGING_MESSAGE_ID": messaging_attributes.MESSAGING_MESSAGE_ID,
        "MESSAGING_MESSAGE_CONVERSATION_ID": messaging_attributes.MESSAGING_MESSAGE_CONVERSATION_ID,
        "CLOUDEVENTS_EVENT_ID": cloudevents_attributes.CLOUDEVENTS_EVENT_ID,
        "CLOUDEVENTS_EVENT_SOURCE": cloudevents_attributes.CLOUDEVENTS_EVENT_SOURCE,
        "CLOUDEVENTS_EVENT_TYPE": cloudevents_attributes.CLOUDEVENTS_EVENT_TYPE,
        "CLOUDEVENTS_EVENT_SUBJECT": cloudevents_attributes.CLOUDEVENTS_EVENT_SUBJECT,
    }

    assert {name: getattr(names, name) for name in conventions} == conventions
    systems = messaging_attributes.MessagingSystemValues
    assert {systems.SERVICEBUS.value, systems.EVENTHUBS.value, systems.EVENTGRID.value} == {
        "servicebus",
        "eventhubs",
        "eventgrid",
    }


def test_log_fields_take_the_trace_of_an_envelope_or_entry_before_the_current_span(telemetry: Telemetry) -> None:
    (envelope,) = envelopes("o-1", 1)
    carried = replace(envelope, traceparent="00-" + "ab" * 16 + "-" + "cd" * 8 + "-01")
    with trace.get_tracer("test").start_as_current_span("here") as span:
        here = log_fields(stream="Order/1", version=3, event_id="e-1")
        from_envelope = log_fields(envelope=carried)
        untraced_envelope = log_fields(envelope=envelope)

    trace_id, span_id = hex_ids(span)
    assert here == {"stream": "Order/1", "version": 3, "event_id": "e-1", "trace_id": trace_id, "span_id": span_id}
    assert from_envelope == {
        "stream": envelope.subject,
        "version": 1,
        "event_id": envelope.id,
        "trace_id": "ab" * 16,
        "span_id": "cd" * 8,
    }
    assert (untraced_envelope["trace_id"], untraced_envelope["span_id"]) == (trace_id, span_id)
    assert log_fields(stream="Order/1") == {
        "stream": "Order/1",
        "version": None,
        "event_id": None,
        "trace_id": None,
        "span_id": None,
    }


def test_the_filter_gives_every_record_the_fields_and_the_current_trace(telemetry: Telemetry) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s trace=%(trace_id)s stream=%(stream)s"))
    handler.addFilter(TraceContextFilter())
    logger = logging.getLogger("test.telemetry.filter")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("outside")
        with trace.get_tracer("test").start_as_current_span("inside") as span:
            logger.warning("inside")
        logger.warning("about", extra=log_fields(stream="Order/1"))
    finally:
        logger.removeHandler(handler)

    trace_id = f"{span.get_span_context().trace_id:032x}"
    assert stream.getvalue().splitlines() == [
        "outside trace=None stream=None",
        f"inside trace={trace_id} stream=None",
        "about trace=None stream=Order/1",
    ]


@pytest.mark.parametrize("inside_span", [True, False])
def test_the_workers_json_lines_carry_the_fields(telemetry: Telemetry, inside_span: bool) -> None:
    formatter = JsonFormatter("w-1")
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "publishing failed", None, None)
    for name, value in log_fields(stream="Order/1", version=2, event_id="e-9").items():
        setattr(record, name, value)
    tracer = trace.get_tracer("test")

    if inside_span:
        with tracer.start_as_current_span("inside") as span:
            line = json.loads(formatter.format(logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)))
        assert line["trace_id"] == hex_ids(span)[0]
    else:
        line = json.loads(formatter.format(record))
        assert {name: line.get(name) for name in FIELDS} == {
            "stream": "Order/1",
            "version": 2,
            "event_id": "e-9",
            "trace_id": None,
            "span_id": None,
        }
