"""Run both sample queries over the in-process channel: `python -m samples.processing`."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from messagehandler import EventTypeRegistry, JsonEventSerializer
from messagehandler.channels import CloudEvent
from messagehandler.channels.volatile.in_process import InProcessChannel
from messagehandler.processing import ActionableContext, ProcessingHost, channel_source
from messagehandler.testing import recorded
from samples.processing.telemetry import ReadingRecorded
from samples.processing.transformation import EventSummary, SummaryQuery
from samples.processing.windowed import SensorAverages, SensorWindow


async def run_demo(
    readings: list[tuple[str, float]], window: timedelta = timedelta(minutes=1)
) -> tuple[list[EventSummary], list[SensorWindow]]:
    serializer = JsonEventSerializer(EventTypeRegistry([ReadingRecorded]))
    channel = InProcessChannel("telemetry")
    summaries: list[EventSummary] = []
    windows: list[SensorWindow] = []

    seen_all = asyncio.Event()

    async def forward(outcome: ActionableContext[EventSummary]) -> None:
        summaries.append(outcome.message)
        if len(summaries) == len(readings):
            seen_all.set()

    async def store(outcome: ActionableContext[SensorWindow]) -> None:
        windows.append(outcome.message)

    source = channel_source(channel, wait=timedelta(milliseconds=20))
    host = ProcessingHost(source, serializer).add(SummaryQuery(), forward).add(SensorAverages(window), store)
    await host.start()
    events = recorded("Plant", "plant-1", [ReadingRecorded(sensor=s, value=v) for s, v in readings])
    await channel.publish([CloudEvent.from_event(event, serializer) for event in events])
    await seen_all.wait()
    await host.stop()  # closes the open window, so its aggregates are acted on
    return summaries, windows


def main() -> None:
    readings = [("boiler", 71.0), ("boiler", 73.0), ("chiller", 6.5), ("boiler", 75.0), ("chiller", 7.5)]
    summaries, windows = asyncio.run(run_demo(readings))
    for summary in summaries:
        print(f"summary: {summary.event_type} {summary.stream} v{summary.version}")
    for window in windows:
        print(f"window: {window.sensor} count={window.count} average={window.average:.2f}")


if __name__ == "__main__":
    main()
