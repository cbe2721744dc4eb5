"""The OpenTelemetry SDK installed as the global providers for one test, with in-memory exporters.

The library reads the global providers, as an application configures them; OpenTelemetry lets a process
set each only once, so the fixture puts the API's globals back afterwards (as OpenTelemetry's own test
utilities do), leaving the rest of the suite with no provider at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry import metrics, trace
from opentelemetry.metrics import _internal as metrics_state
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.util._once import Once


def reset_globals() -> None:
    trace._TRACER_PROVIDER_SET_ONCE = Once()
    trace._TRACER_PROVIDER = None
    metrics_state._METER_PROVIDER_SET_ONCE = Once()
    metrics_state._METER_PROVIDER = None


@dataclass
class Telemetry:
    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader

    def spans(self, name: str | None = None) -> list[ReadableSpan]:
        found = list(self.exporter.get_finished_spans())
        return found if name is None else [span for span in found if span.name == name]

    def span(self, name: str) -> ReadableSpan:
        found = self.spans(name)
        assert len(found) == 1, (name, [span.name for span in self.spans()])
        return found[0]

    def points(self, metric: str) -> list[Any]:
        """The data points of one metric, as the reader collects them now."""
        data = self.reader.get_metrics_data()
        points: list[Any] = []
        if data is None:
            return points
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for found in scope.metrics:
                    if found.name == metric:
                        points.extend(found.data.data_points)
        return points

    def point(self, metric: str, **attributes: Any) -> Any:
        matching = [p for p in self.points(metric) if all(p.attributes.get(k) == v for k, v in attributes.items())]
        assert len(matching) == 1, (metric, attributes, [dict(p.attributes) for p in self.points(metric)])
        return matching[0]


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    reset_globals()
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(meter_provider)
    try:
        yield Telemetry(exporter, reader)
    finally:
        reset_globals()
        tracer_provider.shutdown()
        meter_provider.shutdown()
