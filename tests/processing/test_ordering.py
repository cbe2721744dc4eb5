"""Actions for one stream never overlap and run in receive order, whatever the action concurrency."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from messagehandler import JsonEventSerializer
from messagehandler.processing import ActionableContext, ProcessingHost, channel_source
from messagehandler.testing import recorded
from samples.processing.telemetry import ReadingRecorded
from samples.processing.transformation import EventSummary, SummaryQuery
from tests.processing.fakes import MemoryQueue, envelopes, eventually


async def test_one_streams_actions_run_one_at_a_time_in_order(serializer: JsonEventSerializer) -> None:
    queue = MemoryQueue()
    streams = {
        f"plant-{n}": recorded("Plant", f"plant-{n}", [ReadingRecorded(sensor="s", value=float(v)) for v in range(12)])
        for n in range(3)
    }
    interleaved = [event for group in zip(*streams.values(), strict=True) for event in group]
    queue.put(envelopes(interleaved, serializer))
    running: dict[str, int] = {}
    overlaps: list[str] = []
    order: dict[str, list[int]] = {}
    concurrent_streams: set[int] = set()

    async def read_modify_write(outcome: ActionableContext[EventSummary]) -> None:
        stream = outcome.message.stream
        running[stream] = running.get(stream, 0) + 1
        if running[stream] > 1:
            overlaps.append(stream)
        concurrent_streams.add(sum(1 for count in running.values() if count))
        for _ in range(3):
            await asyncio.sleep(0)
        order.setdefault(stream, []).append(outcome.message.version)
        running[stream] -= 1

    source = channel_source(queue, batch_size=1, wait=timedelta(milliseconds=20))
    host = ProcessingHost(source, serializer, action_concurrency=8).add(SummaryQuery(), read_modify_write)
    async with host:
        await eventually(lambda: len(queue.outcomes("complete")) == 36, what="every message completed")

    assert overlaps == []
    assert order == {f"Plant/plant-{n}": list(range(1, 13)) for n in range(3)}
    assert max(concurrent_streams) > 1, "different streams should still run side by side"
