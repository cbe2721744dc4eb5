"""Metrics without tracing, failed and abandoned reads, providers named by the environment, and the shapes
instrumentation reads matching the library's classes."""

from __future__ import annotations

import contextlib
import importlib.metadata
from collections.abc import Iterator

import pytest
from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import Tracer as SdkTracer
from opentelemetry.trace import StatusCode

from messagehandler import InMemoryEventSource, UnreadableEventError
from messagehandler.channels.volatile.in_process import InProcessChannel
from messagehandler.eventsource.outbox import OutboxEntry
from messagehandler.eventsource.protocol import EventStream
from messagehandler.processing.context import ActionableContext, ProcessingContext
from messagehandler.projections import Projector
from messagehandler.telemetry import providers, shapes
from messagehandler.telemetry.providers import meter, tracer
from messagehandler.testing.envelopes import envelopes
from samples.organization.search import SearchEntry, SearchEntryProjection
from tests.telemetry.conftest import Telemetry, reset_globals
from tests.telemetry.support import attributes, dispatcher_to, register


@pytest.fixture
def metrics_only() -> Iterator[InMemoryMetricReader]:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    reset_globals()
    metrics.set_meter_provider(provider)
    yield reader
    reset_globals()
    provider.shutdown()


async def test_metrics_are_recorded_with_tracing_off(metrics_only: InMemoryMetricReader) -> None:
    source = InMemoryEventSource()
    channel = InProcessChannel("orders")
    await register(source, dispatcher_to(channel), "acme")
    await Projector(source, SearchEntryProjection).restore(SearchEntry, "Organization")

    data = metrics_only.get_metrics_data()
    assert data is not None
    names = {m.name for r in data.resource_metrics for s in r.scope_metrics for m in s.metrics}
    assert tracer() is None
    assert {"messagehandler.appends", "messaging.client.sent.messages", "messagehandler.projection.events"} <= names


async def test_a_read_that_fails_is_an_error_span_and_one_closed_early_still_ends(telemetry: Telemetry) -> None:
    source = InMemoryEventSource()
    await register(source, None, "acme")
    await register(source, None, "beta")
    rows = source._streams["Organization"]["beta"]
    rows[0] = (rows[0][0], '{"name": 1}')  # a stored body that no longer fits its class

    with pytest.raises(UnreadableEventError):
        [stream async for stream in source.read_type("Organization")]
    async with contextlib.aclosing(source.read_type("Organization")) as streams:
        async for _stream in streams:
            break

    failed, closed = telemetry.spans("read_type")
    assert failed.status.status_code is StatusCode.ERROR
    assert attributes(failed)["error.type"] == "UnreadableEventError"
    assert closed.status.status_code is StatusCode.UNSET
    assert attributes(closed)["messagehandler.stream.count"] == 1


@pytest.mark.parametrize(
    ("flag", "variable", "entry_point", "get"),
    [
        ("_TRACER_FROM_ENV", "OTEL_PYTHON_TRACER_PROVIDER", "sdk_tracer_provider", tracer),
        ("_METER_FROM_ENV", "OTEL_PYTHON_METER_PROVIDER", "sdk_meter_provider", meter),
    ],
)
def test_a_provider_named_by_the_environment_is_used(
    monkeypatch: pytest.MonkeyPatch, flag: str, variable: str, entry_point: str, get: object
) -> None:
    reset_globals()
    monkeypatch.setenv(variable, entry_point)
    monkeypatch.setattr(providers, flag, True)
    try:
        found = get()  # type: ignore[operator]
    finally:
        reset_globals()

    assert found is not None
    if get is tracer:
        assert isinstance(found, SdkTracer)


def test_the_scope_has_no_version_when_the_distribution_is_not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", missing)

    assert providers._version() is None


def test_the_library_classes_have_the_shapes_instrumentation_reads() -> None:
    (envelope,) = envelopes("o-1", 1)
    channel = InProcessChannel("orders")
    (received,) = [type("Delivery", (), {"envelope": envelope})()]
    context = ProcessingContext(None, received)  # type: ignore[arg-type]

    assert isinstance(envelope, shapes.Envelope)
    assert isinstance(channel, shapes.Publisher)
    assert isinstance(channel, shapes.Endpoint)
    assert isinstance(context, shapes.Delivery)
    assert isinstance(ActionableContext.of("m", context), shapes.Outcome)
    assert isinstance(EventStream("T", "1", []), shapes.Stream)
    assert isinstance(OutboxEntry("T", "1", 1, 2, "etag"), shapes.Entry)
    assert not isinstance(object(), shapes.Envelope)
