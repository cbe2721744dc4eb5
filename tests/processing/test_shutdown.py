"""Graceful shutdown: what is in flight finishes or goes back to the channel; nothing is lost."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from reactivex.testing import TestScheduler

from messagehandler import JsonEventSerializer
from messagehandler.processing import ActionableContext, ProcessingHost, channel_source
from samples.processing.transformation import EventSummary, SummaryQuery
from samples.processing.windowed import SensorAverages, SensorWindow
from tests.processing.conftest import readings
from tests.processing.fakes import MemoryQueue, eventually

FAST = timedelta(milliseconds=10)


async def test_stop_flushes_open_windows_and_completes_their_messages(
    queue: MemoryQueue, serializer: JsonEventSerializer
) -> None:
    sent = readings(serializer, ("a", 1.0), ("a", 2.0), ("b", 4.0))
    queue.put(sent)
    windows: list[SensorWindow] = []

    async def store(outcome: ActionableContext[SensorWindow]) -> None:
        windows.append(outcome.message)

    host = ProcessingHost(channel_source(queue, wait=FAST), serializer, scheduler=TestScheduler())
    host.add(SensorAverages(timedelta(hours=1)), store)
    await host.start()
    await eventually(lambda: host.stats.received == 3, what="all received")
    await host.stop()
    assert sorted(queue.outcomes("complete")) == sorted(envelope.id for envelope in sent)
    assert [(w.sensor, w.count) for w in windows] == [("a", 2), ("b", 1)]
    assert not queue.locked


async def test_stop_lets_running_actions_finish(queue: MemoryQueue, serializer: JsonEventSerializer) -> None:
    sent = readings(serializer, *[("a", float(n)) for n in range(20)])
    queue.put(sent)
    started = asyncio.Event()
    release = asyncio.Event()

    async def slow(outcome: ActionableContext[EventSummary]) -> None:
        started.set()
        await release.wait()

    host = ProcessingHost(channel_source(queue, wait=FAST), serializer, max_in_flight=5).add(SummaryQuery(), slow)
    await host.start()
    await started.wait()
    stopping = asyncio.create_task(host.stop())
    await eventually(lambda: host._stopping, what="stop to begin")
    release.set()
    await stopping
    completed = set(queue.outcomes("complete"))
    assert len(completed) >= 5
    assert completed | {message.envelope.id for message in queue.visible} == {envelope.id for envelope in sent}
    assert not queue.locked


async def test_work_that_outlives_the_grace_period_is_released_and_redelivered(
    queue: MemoryQueue, serializer: JsonEventSerializer
) -> None:
    sent = readings(serializer, ("a", 1.0), ("b", 2.0))
    queue.put(sent)
    hang = asyncio.Event()

    async def stuck(outcome: ActionableContext[EventSummary]) -> None:
        await hang.wait()

    host = ProcessingHost(channel_source(queue, wait=FAST), serializer).add(SummaryQuery(), stuck)
    await host.start()
    await eventually(lambda: host.stats.actions >= 1, what="an action to start")
    await host.stop(grace=timedelta(milliseconds=50))
    assert sorted(queue.outcomes("abandon")) == sorted(envelope.id for envelope in sent)
    assert not queue.locked

    done: list[str] = []

    async def works(outcome: ActionableContext[EventSummary]) -> None:
        done.append(outcome.message.event_id)

    async with ProcessingHost(channel_source(queue, wait=FAST), serializer).add(SummaryQuery(), works):
        await eventually(lambda: len(done) == 2, what="redelivery to a new host")
    assert sorted(done) == sorted(envelope.id for envelope in sent)
