"""The windowed aggregation under virtual time, alone and inside a host; held messages settle with their window."""

from __future__ import annotations

from datetime import timedelta

from reactivex.testing import ReactiveTest, TestScheduler

from messagehandler import JsonEventSerializer
from messagehandler.processing import ActionableContext, ProcessingContext, ProcessingHost, channel_source
from samples.processing.windowed import SensorAverages, SensorWindow
from tests.processing.conftest import readings
from tests.processing.fakes import MemoryQueue, QueuedMessage, eventually

on_next = ReactiveTest.on_next


def contexts_for(
    queue: MemoryQueue, serializer: JsonEventSerializer, *values: tuple[str, float]
) -> list[ProcessingContext]:
    return [
        ProcessingContext(envelope.to_event(serializer), QueuedMessage(envelope, queue))
        for envelope in readings(serializer, *values)
    ]


def test_window_emits_count_and_average_per_sensor_per_window(
    queue: MemoryQueue, serializer: JsonEventSerializer
) -> None:
    scheduler = TestScheduler()
    a1, a2, b1, a3 = contexts_for(queue, serializer, ("a", 1.0), ("a", 3.0), ("b", 10.0), ("a", 7.0))
    # subscribed at 200: windows are [200, 300), [300, 400), [400, 500)
    source = scheduler.create_hot_observable(on_next(210, a1), on_next(250, b1), on_next(299, a2), on_next(420, a3))

    result = scheduler.start(lambda: SensorAverages(timedelta(seconds=100)).build(source), disposed=550)

    emitted = [(message.time, message.value.value) for message in result.messages]
    assert [
        (time, outcome.message.sensor, outcome.message.count, outcome.message.average) for time, outcome in emitted
    ] == [
        (300.0, "a", 2, 2.0),
        (300.0, "b", 1, 10.0),
        (500.0, "a", 1, 7.0),
    ]
    assert [outcome.contexts for _, outcome in emitted] == [(a1, a2), (b1,), (a3,)]
    assert {outcome.message.window_end for _, outcome in emitted[:2]} == {scheduler.to_datetime(300.0)}


async def test_held_messages_complete_only_after_their_window_acted(
    queue: MemoryQueue, serializer: JsonEventSerializer
) -> None:
    scheduler = TestScheduler()
    sent = readings(serializer, ("a", 1.0), ("a", 3.0), ("b", 5.0))
    queue.put(sent)
    windows: list[SensorWindow] = []
    fail_next = [True]

    async def store(outcome: ActionableContext[SensorWindow]) -> None:
        if fail_next.pop() if fail_next else False:
            raise RuntimeError("read model down")
        windows.append(outcome.message)

    source = channel_source(queue, wait=timedelta(milliseconds=10))
    host = ProcessingHost(source, serializer, scheduler=scheduler).add(SensorAverages(timedelta(seconds=60)), store)
    async with host:
        await eventually(lambda: host.stats.received == 3, what="all received")
        assert queue.log == []
        assert host.in_flight == 3
        scheduler.advance_by(60.0)
        await eventually(lambda: len(queue.log) == 3, what="first window settled")
        # the first window's action failed (sensor a): its two readings went back; sensor b completed
        assert sorted(queue.outcomes("abandon")) == sorted([sent[0].id, sent[1].id])
        assert queue.outcomes("complete") == [sent[2].id]
        await eventually(lambda: host.stats.received == 5, what="redelivery")
        scheduler.advance_by(60.0)
        await eventually(lambda: len(queue.outcomes("complete")) == 3, what="second window settled")
    assert [(w.sensor, w.count, w.average) for w in windows] == [("b", 1, 5.0), ("a", 2, 2.0)]
