"""Without OpenTelemetry, or with no provider configured, instrumentation does nothing and builds nothing."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator

import pytest
from opentelemetry import metrics, trace
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.trace import NoOpTracerProvider

from messagehandler import InMemoryEventSource
from messagehandler.telemetry import current_trace
from messagehandler.telemetry.metrics import instruments
from messagehandler.telemetry.providers import enabled, meter, tracer
from tests.telemetry.conftest import reset_globals
from tests.telemetry.support import Outage, dispatcher_to, register
from tests.test_missing_extras import ROOT


class Undescribed(InMemoryEventSource):
    """A source whose description fails: instrumentation that reads it while tracing is off would fail."""

    @property
    def telemetry_attributes(self) -> dict[str, str]:
        raise AssertionError("telemetry attributes built with tracing off")


async def test_with_no_provider_operations_run_undecorated_and_nothing_is_described() -> None:
    assert (tracer(), meter(), instruments(), enabled(), current_trace()) == (None, None, None, False, None)
    source = Undescribed(outbox=True)
    channel = Outage()
    channel.down = True

    await register(source, dispatcher_to(channel), "acme")
    call = source.append("Organization", "other", 0, [])
    load = source.load("Organization", "acme")

    assert call.cr_code is InMemoryEventSource.append.__wrapped__.__code__  # type: ignore[attr-defined]
    assert load.cr_code is InMemoryEventSource.load.__wrapped__.__code__  # type: ignore[attr-defined]
    await call
    assert len(await load) == 1
    streams = source.read_type("Organization")
    assert isinstance(streams, AsyncIterator)
    assert streams.ag_code is InMemoryEventSource.read_changes.__wrapped__.__code__  # type: ignore[attr-defined]
    assert [stream.stream_id async for stream in streams] == ["acme"]
    (entry,) = [entry async for entry in source.pending("Organization")]
    assert (entry.traceparent, entry.tracestate) == (None, None)
    assert entry.since is not None


@pytest.fixture
def noop_providers() -> object:
    reset_globals()
    trace.set_tracer_provider(NoOpTracerProvider())
    metrics.set_meter_provider(NoOpMeterProvider())
    yield None
    reset_globals()


@pytest.mark.usefixtures("noop_providers")
def test_no_op_providers_count_as_not_configured() -> None:
    assert (tracer(), meter(), enabled()) == (None, None, False)


def test_the_library_works_with_opentelemetry_not_installed() -> None:
    """The `otel` extra is optional: every instrumented path runs with `opentelemetry` unimportable."""
    code = textwrap.dedent(
        """
        import asyncio, sys
        sys.modules["opentelemetry"] = None
        from datetime import timedelta
        from messagehandler import InMemoryEventSource, JsonEventSerializer
        from messagehandler.channels.relay import OutboxRelay
        from messagehandler.processing import ProcessingHost, channel_source
        from messagehandler.projections import Projector
        from messagehandler.telemetry import TraceContextFilter, current_trace, log_fields
        from messagehandler.telemetry.providers import AVAILABLE, enabled
        from samples.organization.search import SearchEntry, SearchEntryProjection
        from samples.processing.transformation import SummaryQuery
        from tests.telemetry.support import Outage, dispatcher_to, register

        async def main():
            source = InMemoryEventSource(outbox=True)
            channel = Outage()
            dispatcher = dispatcher_to(channel)
            acted = []

            async def act(outcome):
                acted.append(outcome.message)

            serializer = JsonEventSerializer(source.registry)
            async with ProcessingHost(channel_source(channel, wait=timedelta(milliseconds=10)), serializer).add(
                SummaryQuery(), act
            ):
                channel.down = True
                await register(source, dispatcher, "acme")
                channel.down = False
                report = await OutboxRelay(source, dispatcher, min_age=timedelta(0)).run_once()
                while not acted:
                    await asyncio.sleep(0.01)
            records = await Projector(source, SearchEntryProjection).restore(SearchEntry, "Organization")
            fields = log_fields(stream="Organization/acme")
            print(AVAILABLE, enabled(), current_trace(), report.cleared, len(acted), sorted(records), fields["trace_id"])

        asyncio.run(main())
        """
    )
    completed = subprocess.run(  # noqa: S603 - fixed arguments
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split() == ["False", "False", "None", "1", "1", "['acme']", "None"]
