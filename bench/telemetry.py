"""What OpenTelemetry instrumentation costs: flush and process with OpenTelemetry absent, unconfigured, and on.

Each round flushes N new aggregates (one event each) through `AggregateRepository` on the in-memory
source with a dispatcher to the in-process channel, while a `ProcessingHost` runs the sample
`SummaryQuery` with a no-op action over that channel, until every event was acted on: the write and
the read path of the library, without storage I/O to hide its own costs.

Three modes, each in a fresh interpreter per round, alternating:

- `absent`: `opentelemetry` cannot be imported (`sys.modules["opentelemetry"] = None` before
  anything is imported), as without the `otel` extra;
- `noop`: `opentelemetry-api` installed, no provider configured (the API's default);
- `sdk`: the OpenTelemetry SDK as the global providers, spans to an in-memory exporter through a
  `SimpleSpanProcessor`, metrics to an `InMemoryMetricReader`.

A child runs one warm-up round and `--repeats` measured rounds and reports the least CPU time
(`time.process_time`: on a shared machine the least is the one least disturbed); interpreters differ
by a few percent from one start to the next (memory layout), so each mode runs in `--rounds` of them,
with the same hash seed, and the ratios compare the medians per mode: `noop_overhead_ratio` = noop / absent (goal <= 1.05) and
`sdk_overhead_ratio` = sdk / absent.

Run: python bench/telemetry.py [--events N] [--rounds R] [--repeats K]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODES = ("absent", "noop", "sdk")


def child(mode: str, events: int, repeats: int) -> dict[str, object]:
    if mode == "absent":
        sys.modules["opentelemetry"] = None  # type: ignore[assignment]
    sys.path.insert(0, str(ROOT))

    import asyncio
    import gc
    import time
    from datetime import timedelta

    from messagehandler import AggregateRepository, InMemoryEventSource, JsonEventSerializer
    from messagehandler.channels.dispatcher import Dispatcher
    from messagehandler.channels.volatile.in_process import InProcessChannel
    from messagehandler.processing import ActionableContext, ProcessingHost, channel_source
    from messagehandler.telemetry.providers import AVAILABLE, enabled
    from samples.organization.domain import Organization
    from samples.processing.transformation import EventSummary, SummaryQuery

    clear = None
    if mode == "sdk":
        from opentelemetry import metrics, trace
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        metrics.set_meter_provider(MeterProvider(metric_readers=[InMemoryMetricReader()]))
        clear = exporter.clear

    async def one_round(tag: int) -> float:
        source = InMemoryEventSource()
        channel = InProcessChannel("bench", buffer_size=events + 10)
        dispatcher = Dispatcher().add_channel(channel).route("Organization").to("bench")
        seen = 0
        done = asyncio.Event()

        async def act(outcome: ActionableContext[EventSummary]) -> None:
            nonlocal seen
            seen += 1
            if seen == events:
                done.set()

        serializer = JsonEventSerializer(source.registry)
        host = ProcessingHost(channel_source(channel, wait=timedelta(milliseconds=20)), serializer)
        host.add(SummaryQuery(), act)
        gc.collect()
        async with host:
            started = time.process_time()
            for n in range(events):
                repository = AggregateRepository(source, dispatcher=dispatcher)
                org = Organization(f"org-{tag}-{n}")
                org.register(f"Org {n}")
                repository.add(org)
                await repository.flush()
            await asyncio.wait_for(done.wait(), timeout=120)
            elapsed = time.process_time() - started
        if clear is not None:
            clear()
        return elapsed

    async def main() -> list[float]:
        await one_round(-1)
        return [await one_round(tag) for tag in range(repeats)]

    seconds = asyncio.run(main())
    return {"mode": mode, "available": AVAILABLE, "enabled": enabled(), "cpu_seconds": min(seconds)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--child", choices=MODES)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.events, args.repeats)))
        return

    results: dict[str, list[float]] = {mode: [] for mode in MODES}
    for _ in range(args.rounds):
        for mode in MODES:
            command = [sys.executable, __file__, "--child", mode, "--events", str(args.events)]
            command += ["--repeats", str(args.repeats)]
            env = {**os.environ, "PYTHONHASHSEED": "0"}  # the same hashing in every child
            completed = subprocess.run(command, capture_output=True, text=True, check=True, env=env)  # noqa: S603
            report = json.loads(completed.stdout.strip().splitlines()[-1])
            expected = {"absent": (False, False), "noop": (True, False), "sdk": (True, True)}[mode]
            assert (report["available"], report["enabled"]) == expected, report
            results[mode].append(float(report["cpu_seconds"]))

    medians = {mode: statistics.median(values) for mode, values in results.items()}
    per_event = {mode: medians[mode] / args.events * 1e6 for mode in MODES}
    print(f"flush + process of {args.events} events, {args.rounds} interpreters per mode (CPU time, medians)")
    print(f"{'mode':<8} {'seconds':>9} {'us/event':>9} {'ratio':>7}")
    for mode in MODES:
        ratio = medians[mode] / medians["absent"]
        print(f"{mode:<8} {medians[mode]:>9.3f} {per_event[mode]:>9.1f} {ratio:>7.3f}")
    print(
        json.dumps(
            {
                "events": args.events,
                "rounds": args.rounds,
                "absent_us_per_event": round(per_event["absent"], 2),
                "noop_us_per_event": round(per_event["noop"], 2),
                "sdk_us_per_event": round(per_event["sdk"], 2),
                "noop_overhead_ratio": round(medians["noop"] / medians["absent"], 4),
                "sdk_overhead_ratio": round(medians["sdk"] / medians["absent"], 4),
            }
        )
    )


if __name__ == "__main__":
    main()
