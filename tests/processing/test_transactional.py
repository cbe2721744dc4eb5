"""Per-message completion on a transactional channel: complete after success, abandon on failure, dead-letter at N."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from reactivex import Observable
from reactivex import operators as ops

from messagehandler import JsonEventSerializer
from messagehandler.processing import ActionableContext, ProcessingContext, ProcessingHost, channel_source, transform
from samples.processing.transformation import EventSummary, SummaryQuery
from tests.processing.conftest import readings
from tests.processing.fakes import MemoryQueue, eventually

FAST = timedelta(milliseconds=20)


def host_for(queue: MemoryQueue, serializer: JsonEventSerializer, **options: Any) -> ProcessingHost:
    return ProcessingHost(channel_source(queue, wait=FAST), serializer, **options)


async def test_completes_only_after_the_action_succeeded(queue: MemoryQueue, serializer: JsonEventSerializer) -> None:
    queue.put(readings(serializer, ("a", 1.0), ("b", 2.0)))
    release = asyncio.Event()
    seen: list[EventSummary] = []

    async def slow(outcome: ActionableContext[EventSummary]) -> None:
        seen.append(outcome.message)
        await release.wait()

    async with host_for(queue, serializer).add(SummaryQuery(), slow) as host:
        await eventually(lambda: len(seen) == 1, what="the first action to start")
        assert queue.log == []
        release.set()
        await eventually(lambda: len(queue.outcomes("complete")) == 2, what="both completed")
        assert host.stats.completed == 2
    assert [summary.event_type for summary in seen] == ["ReadingRecorded", "ReadingRecorded"]


async def test_a_failing_action_abandons_so_the_message_is_redelivered(
    queue: MemoryQueue, serializer: JsonEventSerializer
) -> None:
    [envelope] = readings(serializer, ("a", 1.0))
    queue.put([envelope])
    attempts: list[int] = []

    async def flaky(outcome: ActionableContext[EventSummary]) -> None:
        attempts.append(outcome.contexts[0].delivery_count)
        if len(attempts) < 3:
            raise RuntimeError("downstream unavailable")

    async with host_for(queue, serializer).add(SummaryQuery(), flaky):
        await eventually(lambda: queue.outcomes("complete") == [envelope.id], what="completion after retries")
    assert attempts == [1, 2, 3]
    assert queue.log == [("abandon", envelope.id), ("abandon", envelope.id), ("complete", envelope.id)]


async def test_dead_letters_after_max_attempts_and_logs_the_message_id(
    queue: MemoryQueue, serializer: JsonEventSerializer, caplog: pytest.LogCaptureFixture
) -> None:
    [envelope] = readings(serializer, ("a", 1.0))
    queue.put([envelope])

    async def broken(outcome: ActionableContext[EventSummary]) -> None:
        raise ValueError("never works")

    async with host_for(queue, serializer, max_attempts=3).add(SummaryQuery(), broken):
        await eventually(lambda: queue.dead, what="dead-lettering")
    assert [outcome for outcome, _ in queue.log] == ["abandon", "abandon", "dead_letter"]
    assert queue.dead[0].delivery_count == 3
    assert any(envelope.id in record.getMessage() for record in caplog.records if record.levelname == "ERROR")


async def test_one_failing_query_keeps_the_message_from_completing_for_all(
    queue: MemoryQueue, serializer: JsonEventSerializer
) -> None:
    [envelope] = readings(serializer, ("a", 1.0))
    queue.put([envelope])
    done: list[str] = []

    async def works(outcome: ActionableContext[Any]) -> None:
        done.append("works")

    async def fails_once(outcome: ActionableContext[Any]) -> None:
        if outcome.contexts[0].delivery_count == 1:
            raise RuntimeError("first time fails")

    host = host_for(queue, serializer).add(SummaryQuery(), works).add(SummaryQuery(), fails_once)
    async with host:
        await eventually(lambda: queue.outcomes("complete"), what="completion on redelivery")
    assert queue.log == [("abandon", envelope.id), ("complete", envelope.id)]
    assert done == ["works", "works"]


class OnlySensorA:
    def build(self, stream: Observable[ProcessingContext]) -> Observable[ActionableContext[str]]:
        def sensor_a(context: ProcessingContext) -> str | None:
            return "a" if getattr(context.message, "sensor", None) == "a" else None

        return stream.pipe(transform(sensor_a))


async def test_a_message_no_query_acts_on_is_still_completed(
    queue: MemoryQueue, serializer: JsonEventSerializer
) -> None:
    sent = readings(serializer, ("a", 1.0), ("b", 2.0))
    queue.put(sent)
    acted: list[str] = []

    async def record(outcome: ActionableContext[str]) -> None:
        acted.extend(outcome.message_ids)

    async with host_for(queue, serializer).add(OnlySensorA(), record):
        await eventually(lambda: len(queue.outcomes("complete")) == 2, what="both completed")
    assert acted == [sent[0].id]


async def test_manual_completion_waits_for_the_action_to_settle(
    queue: MemoryQueue, serializer: JsonEventSerializer
) -> None:
    sent = readings(serializer, ("a", 1.0), ("b", 2.0))
    queue.put(sent)
    later: list[ProcessingContext] = []

    class Manual:
        def build(self, stream: Observable[ProcessingContext]) -> Observable[ActionableContext[str]]:
            return stream.pipe(ops.map(lambda context: ActionableContext.of("x", context, auto_complete=False)))

    async def defer(outcome: ActionableContext[str]) -> None:
        [context] = outcome.contexts
        if context.delivery_count > 1:
            context.complete()
        else:
            later.append(context)

    async with host_for(queue, serializer).add(Manual(), defer):
        await eventually(lambda: len(later) == 2, what="both acted on")
        assert queue.log == []
        later[0].complete()
        later[1].fail("rejected by the action")
        await eventually(lambda: len(queue.log) == 3, what="settlements")
    assert queue.log == [("complete", sent[0].id), ("abandon", sent[1].id), ("complete", sent[1].id)]


async def test_a_query_that_errors_is_rebuilt_and_its_message_released(
    queue: MemoryQueue, serializer: JsonEventSerializer
) -> None:
    sent = readings(serializer, ("boom", 1.0), ("ok", 2.0))
    queue.put(sent)
    acted: list[str] = []

    def explode_once(context: ProcessingContext) -> str:
        if getattr(context.message, "sensor", "") == "boom" and context.delivery_count == 1:
            raise RuntimeError("bad query")
        return "fine"

    class Fragile:
        def build(self, stream: Observable[ProcessingContext]) -> Observable[ActionableContext[str]]:
            return stream.pipe(transform(explode_once))

    async def record(outcome: ActionableContext[str]) -> None:
        acted.extend(outcome.message_ids)

    async with host_for(queue, serializer).add(Fragile(), record):
        await eventually(lambda: len(queue.outcomes("complete")) == 2, what="both completed")
    assert queue.outcomes("abandon") == [sent[0].id]
    assert sorted(acted) == sorted(envelope.id for envelope in sent)


async def test_backpressure_bounds_unsettled_messages(queue: MemoryQueue, serializer: JsonEventSerializer) -> None:
    queue.put(readings(serializer, *[("a", float(n)) for n in range(50)]))
    gate = asyncio.Event()
    started: list[str] = []

    async def blocked(outcome: ActionableContext[EventSummary]) -> None:
        started.append(outcome.message.event_id)
        await gate.wait()

    async with host_for(queue, serializer, max_in_flight=8).add(SummaryQuery(), blocked) as host:
        await eventually(lambda: host.in_flight == 8, what="the in-flight bound to fill")
        await asyncio.sleep(0)
        assert len(queue.locked) == 8
        gate.set()
        await eventually(lambda: len(queue.outcomes("complete")) == 50, what="all completed")
    assert queue.max_unsettled <= 8


async def test_undecodable_message_is_released_then_dead_lettered(
    queue: MemoryQueue, serializer: JsonEventSerializer
) -> None:
    from dataclasses import replace

    [envelope] = readings(serializer, ("a", 1.0))
    queue.put([replace(envelope, type="NoSuchEvent")])

    async def never(outcome: ActionableContext[EventSummary]) -> None:
        raise AssertionError("must not be called")

    async with host_for(queue, serializer, max_attempts=2).add(SummaryQuery(), never):
        await eventually(lambda: queue.dead, what="dead-lettering")
    assert [outcome for outcome, _ in queue.log] == ["abandon", "dead_letter"]
