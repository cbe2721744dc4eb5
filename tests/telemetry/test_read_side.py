"""Spans and metrics of the read side: processing by standing queries, dead-lettering, restores, catch-ups, the cache."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from messagehandler import InMemoryEventSource, JsonEventSerializer
from messagehandler.cache import CacheReplicator
from messagehandler.channels.volatile.in_process import InProcessChannel
from messagehandler.processing import ActionableContext, ProcessingHost, channel_source
from messagehandler.projections import DurableReadModel, FileCheckpointStore, Projector
from samples.organization.domain import OrganizationRegistered, OrganizationRenamed
from samples.organization.search import SearchEntry, SearchEntryProjection
from samples.processing.transformation import EventSummary, SummaryQuery
from tests.processing.fakes import MemoryQueue, envelopes, eventually
from tests.telemetry.conftest import Telemetry
from tests.telemetry.support import attributes, dispatcher_to, hex_ids, parent_id, register

SERIALIZER = JsonEventSerializer()
SERIALIZER.registry.register(OrganizationRegistered, OrganizationRenamed)


async def test_a_standing_querys_action_continues_the_producers_trace(telemetry: Telemetry) -> None:
    source = InMemoryEventSource()
    channel = InProcessChannel("orders")
    dispatcher = dispatcher_to(channel)
    tracer = trace.get_tracer("test")
    acted: list[EventSummary] = []

    async def act(outcome: ActionableContext[EventSummary]) -> None:
        with tracer.start_as_current_span("update the read model"):
            acted.append(outcome.message)

    host = ProcessingHost(channel_source(channel), SERIALIZER).add(SummaryQuery(), act)
    async with host:
        await register(source, dispatcher, "acme")
        await eventually(lambda: len(acted) == 1, what="the action")

    flush, publish = telemetry.span("repository.flush"), telemetry.span("dispatcher.publish")
    process = telemetry.span("process orders")
    receive = telemetry.span("receive orders")
    work = telemetry.span("update the read model")
    trace_id = hex_ids(flush)[0]
    assert {hex_ids(span)[0] for span in (process, work)} == {trace_id}
    assert process.kind is SpanKind.CONSUMER
    assert parent_id(process) == publish.context.span_id
    assert parent_id(work) == process.context.span_id
    assert process.attributes is not None
    assert process.attributes["messaging.operation.type"] == "process"
    assert process.attributes["messagehandler.query.name"] == "summaries"
    assert process.attributes["cloudevents.event_id"] == acted[0].event_id
    assert receive.kind is SpanKind.CLIENT
    assert receive.parent is None
    assert [link.context.span_id for link in receive.links] == [publish.context.span_id]
    lag = telemetry.point("messagehandler.consumer.lag", **{"messagehandler.query.name": "summaries"})
    assert lag.count == 1
    assert 0 <= lag.sum < 5
    assert telemetry.point("messaging.process.duration").count == 1
    assert telemetry.point("messaging.client.consumed.messages").value == 1


async def test_a_message_without_a_trace_context_starts_its_own_trace(telemetry: Telemetry) -> None:
    channel = InProcessChannel("orders")
    source = InMemoryEventSource()
    acted: list[EventSummary] = []

    async def act(outcome: ActionableContext[EventSummary]) -> None:
        acted.append(outcome.message)

    await register(source, None, "acme")
    events = await source.load("Organization", "acme")
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("host owner"):
        host = ProcessingHost(channel_source(channel), SERIALIZER).add(SummaryQuery(), act)
        await host.start()
    await channel.publish(envelopes(events, SERIALIZER))
    await eventually(lambda: len(acted) == 1, what="the action")
    await host.stop()

    process = telemetry.span("process orders")
    assert process.parent is None
    assert hex_ids(process)[0] != hex_ids(telemetry.span("host owner"))[0]


async def test_a_dead_lettered_message_is_counted_and_logged_with_its_event_and_trace(
    telemetry: Telemetry, caplog: pytest.LogCaptureFixture
) -> None:
    source = InMemoryEventSource()
    await register(source, None, "acme")
    events = await source.load("Organization", "acme")
    queue = MemoryQueue("orders")
    producer_trace = "ab" * 16
    queue.put(replace(e, traceparent=f"00-{producer_trace}-{'cd' * 8}-01") for e in envelopes(events, SERIALIZER))

    async def fail(outcome: ActionableContext[EventSummary]) -> None:
        raise RuntimeError("cannot handle it")

    host = ProcessingHost(channel_source(queue), SERIALIZER, max_attempts=1).add(SummaryQuery(), fail)
    with caplog.at_level(logging.ERROR, logger="messagehandler.processing"):
        async with host:
            await eventually(lambda: len(queue.dead) == 1, what="the dead-letter")

    dead = telemetry.point("messagehandler.messages.dead_lettered", **{"messaging.destination.name": "orders"})
    assert (dead.value, dead.attributes["messagehandler.dead_letter.reason"]) == (1, "failed")
    record = next(r for r in caplog.records if r.getMessage().startswith("dead-lettering"))
    fields = (record.stream, record.version, record.event_id, record.trace_id)  # type: ignore[attr-defined]
    assert fields == ("Organization/acme", 1, events[0].metadata.event_id, producer_trace)
    action_failure = next(r for r in caplog.records if r.getMessage().startswith("action of"))
    assert action_failure.event_id == events[0].metadata.event_id  # type: ignore[attr-defined]


async def test_restore_and_catch_up_are_spans_holding_the_reads_and_measure_their_throughput(
    telemetry: Telemetry, tmp_path: Path
) -> None:
    source = InMemoryEventSource()
    for n in range(4):
        await register(source, None, f"org-{n}")
    projector = Projector(source, SearchEntryProjection)
    telemetry.exporter.clear()

    records = await projector.restore(SearchEntry, "Organization")
    model = DurableReadModel(projector, SearchEntry, "Organization", FileCheckpointStore(tmp_path))
    await model.open()

    assert len(records) == 4
    restore, catch_up = telemetry.span("projection.restore"), telemetry.span("projection.catch_up")
    reads = telemetry.spans("read_type")
    assert [read.parent.span_id for read in reads if read.parent] == [restore.context.span_id, catch_up.context.span_id]
    assert attributes(restore)["messagehandler.event.count"] == 4
    assert restore.attributes["messagehandler.record.type"] == "SearchEntry"
    assert attributes(catch_up)["messagehandler.read_model"] == model.name
    for operation in ("restore", "catch_up"):
        measured = {"messagehandler.operation": operation, "messagehandler.stream.type": "Organization"}
        assert telemetry.point("messagehandler.projection.events", **measured).value == 4
        assert telemetry.point("messagehandler.projection.duration", **measured).count == 1
        assert telemetry.point("messagehandler.projection.throughput", **measured).value > 0


async def test_replicating_the_cache_is_a_span_and_measures_its_throughput(
    telemetry: Telemetry, tmp_path: Path
) -> None:
    source = InMemoryEventSource()
    for n in range(3):
        await register(source, None, f"org-{n}")
    telemetry.exporter.clear()

    summary = await CacheReplicator(source, tmp_path / "cache").replicate(["Organization"])

    replicate = telemetry.span("cache.replicate")
    assert attributes(replicate)["messagehandler.event.count"] == 3
    assert [
        span.parent.span_id for span in telemetry.spans("read_changes") + telemetry.spans("read_type") if span.parent
    ] == [replicate.context.span_id]
    assert summary.total_events == 3
    assert telemetry.point("messagehandler.cache.events").value == 3
    assert telemetry.point("messagehandler.cache.duration").count == 1
    assert telemetry.point("messagehandler.cache.throughput").value > 0


async def test_every_receiver_that_skips_a_message_logs_its_event_and_trace(caplog: pytest.LogCaptureFixture) -> None:
    from messagehandler.processing import CatchUpReceiver, MemoryPositionStore

    source = InMemoryEventSource()
    await register(source, None, "acme")
    (event,) = await source.load("Organization", "acme")
    producer_trace = "ef" * 16
    (envelope,) = [replace(e, traceparent=f"00-{producer_trace}-{'12' * 8}-01") for e in envelopes([event], SERIALIZER)]
    channel = InProcessChannel("orders")
    await channel.publish([envelope])
    feed = CatchUpReceiver(source, "Organization", SERIALIZER, MemoryPositionStore(), margin=timedelta(0))
    (from_channel,) = await channel.receive(1, wait=timedelta(seconds=1))
    (from_store,) = await feed.receive(1, wait=timedelta(seconds=1))

    with caplog.at_level(logging.WARNING):
        await from_channel.dead_letter("cannot handle it")
        await from_store.dead_letter("cannot handle it")

    channel_record, store_record = [r for r in caplog.records if "cannot handle it" in r.getMessage()]
    expected = ("Organization/acme", 1, event.metadata.event_id)
    assert (channel_record.stream, channel_record.version, channel_record.event_id) == expected  # type: ignore[attr-defined]
    assert channel_record.trace_id == producer_trace  # type: ignore[attr-defined]
    assert (store_record.stream, store_record.version, store_record.event_id) == expected  # type: ignore[attr-defined]
