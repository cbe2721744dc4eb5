"""Spans, context and metrics of the write side, on the in-memory source: flush, append, load, read, publish, relay."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

from messagehandler import AggregateRepository, ConcurrencyError, InMemoryEventSource, retry_on_conflict
from messagehandler.channels.relay import OutboxRelay
from messagehandler.channels.volatile.in_process import InProcessChannel
from samples.organization.domain import Organization
from tests.telemetry.conftest import Telemetry
from tests.telemetry.support import Outage, attributes, dispatcher_to, hex_ids, parent_id, register


async def test_a_flush_is_one_trace_from_the_append_to_the_envelope_on_the_channel(telemetry: Telemetry) -> None:
    source = InMemoryEventSource(outbox=True)
    channel = InProcessChannel("orders")

    await register(source, dispatcher_to(channel), "acme")

    flush = telemetry.span("repository.flush")
    append = telemetry.span("append")
    publish = telemetry.span("dispatcher.publish")
    send = telemetry.span("send orders")
    assert parent_id(append) == flush.context.span_id
    assert parent_id(publish) == flush.context.span_id
    assert parent_id(send) == publish.context.span_id
    assert append.kind is SpanKind.CLIENT
    assert dict(append.attributes or {}) == {
        "db.system.name": "messagehandler.memory",
        "db.operation.name": "append",
        "db.operation.batch.size": 1,
        "messagehandler.stream.type": "Organization",
        "messagehandler.stream.id": "acme",
        "messagehandler.stream.version": 0,
    }
    (received,) = await channel.receive(1, wait=timedelta(seconds=1))
    assert send.kind is SpanKind.PRODUCER
    assert dict(send.attributes or {}) == {
        "messaging.system": "messagehandler.in_process",
        "messaging.destination.name": "orders",
        "messaging.operation.type": "send",
        "messaging.operation.name": "send",
        "messaging.message.id": received.envelope.id,
        "cloudevents.event_id": received.envelope.id,
        "cloudevents.event_type": "OrganizationRegistered",
    }
    trace_id, publish_span_id = hex_ids(publish)
    assert (received.envelope.traceparent or "").startswith(f"00-{trace_id}-{publish_span_id}-")
    assert telemetry.point("messagehandler.appends", **{"messagehandler.stream.type": "Organization"}).value == 1
    events = telemetry.point("messagehandler.append.events")
    assert (events.count, events.sum) == (1, 1)
    sent = telemetry.point("messaging.client.sent.messages", **{"messaging.destination.name": "orders"})
    assert sent.value == 1


async def test_load_and_read_type_are_client_spans_and_a_read_is_current_only_while_it_reads(
    telemetry: Telemetry,
) -> None:
    source = InMemoryEventSource()
    for n in range(3):
        await register(source, None, f"org-{n}")
    telemetry.exporter.clear()
    tracer = trace.get_tracer("test")

    loaded = await AggregateRepository(source).get(Organization, "org-1")
    with tracer.start_as_current_span("consumer"):
        async for _stream in source.read_type("Organization"):
            with tracer.start_as_current_span("consumer body"):
                pass

    assert loaded.name == "Acme"
    load = telemetry.span("load")
    assert load.attributes is not None
    assert (load.attributes["messagehandler.stream.id"], load.attributes["messagehandler.stream.version"]) == (
        "org-1",
        1,
    )
    read = telemetry.span("read_type")
    consumer, body = telemetry.span("consumer"), telemetry.spans("consumer body")
    assert read.kind is SpanKind.CLIENT
    assert parent_id(read) == consumer.context.span_id
    assert read.attributes is not None
    assert (read.attributes["messagehandler.stream.count"], read.attributes["messagehandler.event.count"]) == (3, 3)
    assert {span.parent.span_id for span in body if span.parent} == {consumer.context.span_id}


async def test_a_conflict_is_an_error_span_and_counted_and_the_retry_is_counted(telemetry: Telemetry) -> None:
    source = InMemoryEventSource()
    await register(source, None, "acme")
    first, second = AggregateRepository(source), AggregateRepository(source)
    (await first.get(Organization, "acme")).rename("First")
    (await second.get(Organization, "acme")).rename("Second")
    await first.flush()
    telemetry.exporter.clear()

    with pytest.raises(ConcurrencyError):
        await second.flush()
    conflicted = telemetry.span("append")
    attempts = 0

    async def rename(repository: AggregateRepository) -> None:
        nonlocal attempts
        attempts += 1
        org = await repository.get(Organization, "acme")
        if attempts == 1:
            await register_rename_elsewhere(source)
        org.rename(f"Renamed {attempts}")

    await retry_on_conflict(source, rename, backoff=0)

    assert conflicted.status.status_code is StatusCode.ERROR
    assert attributes(conflicted)["error.type"] == "ConcurrencyError"
    assert telemetry.point("messagehandler.append.conflicts").value == 2
    assert telemetry.point("messagehandler.command.retries").value == 1
    assert attempts == 2


async def register_rename_elsewhere(source: InMemoryEventSource) -> None:
    other = AggregateRepository(source)
    (await other.get(Organization, "acme")).rename("Elsewhere")
    await other.flush()


async def test_the_relay_continues_the_trace_of_an_append_whose_publishing_failed(
    telemetry: Telemetry, caplog: pytest.LogCaptureFixture
) -> None:
    source = InMemoryEventSource(outbox=True)
    channel = Outage()
    dispatcher = dispatcher_to(channel)
    channel.down = True

    await register(source, dispatcher, "acme")
    (entry,) = [entry async for entry in source.pending("Organization")]
    relay = OutboxRelay(source, dispatcher, min_age=timedelta(0))  # the test strands the row itself
    report = await relay.run_once()

    flush, append = telemetry.span("repository.flush"), telemetry.span("append")
    trace_id, append_span_id = hex_ids(append)
    assert (entry.traceparent or "").startswith(f"00-{trace_id}-{append_span_id}-")
    assert report.failed == 1
    assert telemetry.point("messagehandler.outbox.entries").value == 1
    age = telemetry.point("messagehandler.outbox.oldest_age").value
    assert 0 < age < 60
    failure = next(r for r in caplog.records if r.name == "messagehandler.relay")
    assert (failure.stream, failure.version, failure.trace_id) == ("Organization/acme", 1, trace_id)  # type: ignore[attr-defined]

    channel.down = False
    telemetry.exporter.clear()
    report = await relay.run_once()

    assert report.cleared == 1
    relayed = telemetry.span("outbox.relay Organization")
    send = telemetry.span("send orders")
    assert hex_ids(relayed)[0] == hex_ids(flush)[0] == trace_id
    assert parent_id(relayed) == append.context.span_id
    assert [link.context.span_id for link in relayed.links] == [telemetry.span("outbox.relay_pass").context.span_id]
    assert hex_ids(send)[0] == trace_id
    (received,) = await channel.receive(1, wait=timedelta(seconds=1))
    assert (received.envelope.traceparent or "").startswith(f"00-{trace_id}-")
    assert telemetry.point("messagehandler.outbox.entries").value == 0
    assert telemetry.point("messagehandler.outbox.oldest_age").value == 0


async def test_a_failed_dispatch_logs_the_event_and_the_trace_as_fields(
    telemetry: Telemetry, caplog: pytest.LogCaptureFixture
) -> None:
    source = InMemoryEventSource(outbox=True)
    channel = Outage()
    channel.down = True

    with caplog.at_level(logging.WARNING, logger="messagehandler.dispatch"):
        await register(source, dispatcher_to(channel), "acme")

    (record,) = [r for r in caplog.records if r.name == "messagehandler.dispatch"]
    stored = await source.load("Organization", "acme")
    trace_id, _ = hex_ids(telemetry.span("repository.flush"))
    fields = (record.stream, record.version, record.event_id, record.trace_id)  # type: ignore[attr-defined]
    assert fields == ("Organization/acme", 1, stored[0].metadata.event_id, trace_id)
