"""On Azurite: one trace from `repository.flush` through a Storage Queue to a standing query's action, also when
the relay publishes after a failure; the outbox row keeps the context; the Azure SDK's spans nest under ours."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
from azure.core.settings import settings
from opentelemetry import trace

from messagehandler import AggregateRepository, EventTypeRegistry, JsonEventSerializer
from messagehandler.channels.dispatcher import Dispatcher
from messagehandler.channels.relay import OutboxRelay
from messagehandler.channels.transactional.storage_queue import StorageQueueChannel
from messagehandler.eventsource.azure_tables import AzureTableStorageEventSource
from messagehandler.processing import ActionableContext, ProcessingHost, channel_source
from samples.organization.domain import Organization, OrganizationRegistered, OrganizationRenamed
from samples.processing.transformation import EventSummary, SummaryQuery
from tests.processing.fakes import eventually
from tests.telemetry.conftest import Telemetry
from tests.telemetry.support import attributes, hex_ids, parent_id, register

if TYPE_CHECKING:
    from azure.data.tables.aio import TableClient

    from messagehandler.testing.azurite import AzuriteProcess
    from tests.support.fault_proxy import FaultProxy

pytestmark = pytest.mark.azurite


@pytest.fixture
async def source(azurite: AzuriteProcess, table_name: str) -> AsyncIterator[AzureTableStorageEventSource]:
    registry = EventTypeRegistry([OrganizationRegistered, OrganizationRenamed])
    async with AzureTableStorageEventSource.from_connection_string(
        azurite.connection_string, table_name, registry=registry, outbox=True
    ) as opened:
        yield opened
        await opened.table_client.delete_table()


class Pipeline:
    """Writer side through a (possibly proxied) Storage Queue channel, reader side straight from Azurite."""

    def __init__(self, azurite: AzuriteProcess, publish_through: str) -> None:
        queue = f"otel-{uuid.uuid4().hex[:12]}"
        self.channel = StorageQueueChannel.from_connection_string(publish_through, queue, name="orders", retry_total=0)
        self.reader = StorageQueueChannel.from_connection_string(azurite.connection_string, queue, name="orders")
        self.dispatcher = Dispatcher().add_channel(self.channel).route("Organization").to("orders")
        self.acted: list[EventSummary] = []
        receiver = self.reader.receiver(poll_interval_max=timedelta(milliseconds=50))
        serializer = JsonEventSerializer(EventTypeRegistry([OrganizationRegistered, OrganizationRenamed]))
        self.host = ProcessingHost(channel_source(receiver, wait=timedelta(milliseconds=200)), serializer)
        self.host.add(SummaryQuery(), self.act)

    async def act(self, outcome: ActionableContext[EventSummary]) -> None:
        with trace.get_tracer("test").start_as_current_span("update the read model"):
            self.acted.append(outcome.message)

    async def close(self) -> None:
        await self.host.stop()
        await self.dispatcher.close()
        await self.reader.close()


async def test_one_trace_from_the_flush_through_a_storage_queue_to_the_standing_querys_action(
    telemetry: Telemetry, azurite: AzuriteProcess, source: AzureTableStorageEventSource
) -> None:
    pipeline = Pipeline(azurite, azurite.connection_string)
    await pipeline.host.start()
    try:
        await register(source, pipeline.dispatcher, "acme")
        await eventually(lambda: len(pipeline.acted) == 1, within=20, what="the action")
    finally:
        await pipeline.close()

    flush = telemetry.span("repository.flush")
    trace_id = hex_ids(flush)[0]
    append = telemetry.span(f"append {source.table_name}")
    process = telemetry.span("process orders")
    work = telemetry.span("update the read model")
    chain = [flush, append, telemetry.span("send orders"), process, work]
    assert {hex_ids(span)[0] for span in chain} == {trace_id}
    assert parent_id(process) == telemetry.span("dispatcher.publish").context.span_id
    assert parent_id(work) == process.context.span_id
    assert attributes(append) | {"server.port": 0} == {
        "db.system.name": "azure.tables",
        "db.namespace": "devstoreaccount1",
        "db.collection.name": source.table_name,
        "db.operation.name": "append",
        "db.operation.batch.size": 1,
        "server.address": "127.0.0.1",
        "server.port": 0,
        "messagehandler.stream.type": "Organization",
        "messagehandler.stream.id": "acme",
        "messagehandler.stream.version": 0,
    }
    assert attributes(telemetry.span("send orders"))["messaging.system"] == "azure.storage.queue"
    lag = telemetry.point("messagehandler.consumer.lag", **{"messaging.destination.name": "orders"})
    assert lag.count == 1
    assert 0 < lag.sum < 20


async def test_one_trace_through_the_relay_after_a_publish_failure(
    telemetry: Telemetry,
    azurite: AzuriteProcess,
    source: AzureTableStorageEventSource,
    queue_proxy: FaultProxy,
    raw_table: TableClient,
) -> None:
    pipeline = Pipeline(azurite, queue_proxy.rewrite(azurite.connection_string))
    await queue_proxy.refuse()
    await register(source, pipeline.dispatcher, "acme")
    (row,) = [row async for row in raw_table.query_entities("RowKey eq '$outbox_acme'")]
    relay = OutboxRelay(source, pipeline.dispatcher, min_age=timedelta(0))  # the test strands the row itself
    failed = await relay.run_once()
    backlog_entries = telemetry.point("messagehandler.outbox.entries").value
    backlog_age = telemetry.point("messagehandler.outbox.oldest_age").value
    await queue_proxy.accept()
    await pipeline.host.start()
    try:
        relayed = await relay.run_once()
        await eventually(lambda: len(pipeline.acted) == 1, within=20, what="the action")
    finally:
        await pipeline.close()

    flush, append = telemetry.span("repository.flush"), telemetry.span(f"append {source.table_name}")
    trace_id, append_span = hex_ids(append)
    assert row["TraceParent"].startswith(f"00-{trace_id}-{append_span}-")
    assert (failed.failed, relayed.cleared) == (1, 1)
    assert (backlog_entries, 0 < backlog_age < 60) == (1, True)
    failed_relay, relay_span = telemetry.spans("outbox.relay Organization")
    assert [parent_id(failed_relay), parent_id(relay_span)] == [append.context.span_id] * 2
    assert attributes(failed_relay)["error.type"] == "ChannelUnavailableError"
    process = telemetry.span("process orders")
    assert {hex_ids(span)[0] for span in (flush, relay_span, process, telemetry.span("update the read model"))} == {
        trace_id
    }
    assert telemetry.point("messagehandler.consumer.lag").count == 1
    assert telemetry.point("messagehandler.outbox.entries").value == 0


async def test_an_extended_outbox_row_keeps_its_age_and_takes_the_newest_trace(
    telemetry: Telemetry, source: AzureTableStorageEventSource, raw_table: TableClient
) -> None:
    await register(source, None, "acme")
    (created,) = [row async for row in raw_table.query_entities("RowKey eq '$outbox_acme'")]
    repository = AggregateRepository(source)
    (await repository.get(Organization, "acme")).rename("Acme 2")
    await repository.flush()

    (extended,) = [row async for row in raw_table.query_entities("RowKey eq '$outbox_acme'")]
    (entry,) = [entry async for entry in source.pending("Organization")]
    newest_append = telemetry.spans(f"append {source.table_name}")[-1]
    assert (extended["FromVersion"], extended["ToVersion"]) == (1, 2)
    assert extended["Since"] == created["Since"] == entry.since
    assert extended["TraceParent"] != created["TraceParent"]
    assert (entry.traceparent or "").startswith("00-{}-{}-".format(*hex_ids(newest_append)))


@pytest.fixture
def azure_sdk_tracing() -> Any:
    from azure.core.tracing.ext.opentelemetry_span import OpenTelemetrySpan

    settings.tracing_implementation.set_value(OpenTelemetrySpan)
    yield OpenTelemetrySpan
    settings.tracing_implementation.unset_value()


@pytest.mark.usefixtures("azure_sdk_tracing")
async def test_the_azure_sdks_own_spans_nest_under_the_librarys(
    telemetry: Telemetry, source: AzureTableStorageEventSource
) -> None:
    await register(source, None, "acme")
    await source.load("Organization", "acme")
    streams = [stream async for stream in source.read_type("Organization")]

    assert len(streams) == 1
    ours = {
        span.context.span_id: span.name
        for span in telemetry.spans()
        if span.name.startswith(("append ", "load ", "read_type "))
    }
    sdk = [
        span
        for span in telemetry.spans()
        if span.instrumentation_scope and span.instrumentation_scope.name.startswith("azure")
    ]
    nested = {ours[span.parent.span_id].split()[0] for span in sdk if span.parent and span.parent.span_id in ours}
    assert nested == {"append", "load", "read_type"}, [(s.name, s.parent) for s in sdk]
