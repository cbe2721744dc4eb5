"""Per-batch settlement with a checkpoint on a streaming source, and the event store as a source."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from messagehandler import InMemoryEventSource, JsonEventSerializer
from messagehandler.channels import ChannelKind
from messagehandler.processing import (
    ActionableContext,
    MemoryPositionStore,
    ProcessingHost,
    channel_source,
    event_store_source,
)
from messagehandler.testing import recorded
from samples.processing.telemetry import ReadingRecorded
from samples.processing.transformation import EventSummary, SummaryQuery
from tests.processing.conftest import readings
from tests.processing.fakes import MemoryQueue, eventually

FAST = timedelta(milliseconds=10)


async def test_a_failed_batch_is_abandoned_whole_and_later_batches_wait_for_it(serializer: JsonEventSerializer) -> None:
    stream = MemoryQueue(name="hub", kind=ChannelKind.STREAMING)
    sent = readings(serializer, *[("a", float(n)) for n in range(6)])
    stream.put(sent)
    release = asyncio.Event()

    async def fail_third_once(outcome: ActionableContext[EventSummary]) -> None:
        [context] = outcome.contexts
        if context.message_id == sent[2].id:
            await release.wait()
            if context.delivery_count == 1:
                raise RuntimeError("poisoned once")

    source = channel_source(stream, batch_size=3, wait=FAST)
    host = ProcessingHost(source, serializer, action_concurrency=2).add(SummaryQuery(), fail_third_once)
    async with host:
        await eventually(lambda: host.stats.received >= 6, what="two batches received")
        await asyncio.sleep(0)
        assert stream.log == [], "the second batch must not be checkpointed before the first"
        release.set()
        await eventually(lambda: len(stream.outcomes("complete")) == 6, what="everything completed after the retry")
    abandoned = stream.outcomes("abandon")
    assert sorted(abandoned) == sorted(envelope.id for envelope in sent)
    first_completion = stream.log.index(("complete", stream.outcomes("complete")[0]))
    assert all(outcome == "abandon" for outcome, _ in stream.log[:first_completion])


async def test_event_store_source_catches_up_and_resumes_from_its_checkpoint(serializer: JsonEventSerializer) -> None:
    store = InMemoryEventSource(serializer.registry)
    for plant in ("p1", "p2"):
        events = recorded("Plant", plant, [ReadingRecorded(sensor=plant, value=float(n)) for n in range(3)])
        await store.append("Plant", plant, 0, events)
    checkpoints = MemoryPositionStore()
    seen: list[tuple[str, int]] = []

    async def record(outcome: ActionableContext[EventSummary]) -> None:
        seen.append((outcome.message.stream, outcome.message.version))

    def host() -> ProcessingHost:
        source = event_store_source(store, "Plant", serializer, checkpoints, batch_size=4, poll=FAST)
        return ProcessingHost(source, serializer).add(SummaryQuery(), record)

    async with host() as first:
        await eventually(lambda: len(seen) == 6 and first.in_flight == 0, what="catch-up")
    assert sorted(seen) == [(f"Plant/{p}", v) for p in ("p1", "p2") for v in (1, 2, 3)]

    more = recorded("Plant", "p1", [ReadingRecorded(sensor="p1", value=9.0)], start_version=4)
    await store.append("Plant", "p1", 3, more)
    async with host() as second:
        await eventually(lambda: len(seen) == 7 and second.in_flight == 0, what="resume")
    assert seen[-1] == ("Plant/p1", 4)


async def test_event_store_source_rewinds_a_failed_batch(serializer: JsonEventSerializer) -> None:
    store = InMemoryEventSource(serializer.registry)
    events = recorded("Plant", "p1", [ReadingRecorded(sensor="p1", value=float(n)) for n in range(4)])
    await store.append("Plant", "p1", 0, events)
    attempts: list[int] = []

    async def fail_once(outcome: ActionableContext[EventSummary]) -> None:
        attempts.append(outcome.message.version)
        if attempts.count(3) == 1 and outcome.message.version == 3:
            raise RuntimeError("once")

    checkpoints = MemoryPositionStore()
    source = event_store_source(store, "Plant", serializer, checkpoints, batch_size=2, poll=FAST)
    async with ProcessingHost(source, serializer).add(SummaryQuery(), fail_once) as host:
        await eventually(lambda: attempts.count(4) == 2 and host.in_flight == 0, what="the retry to pass")
    assert attempts == [1, 2, 3, 4, 3, 4], "the failed batch is retried whole, the one before it is not"
    assert checkpoints.positions["eventstore:Plant"]["versions"] == {"p1": 4}


async def test_a_poison_event_on_a_streaming_source_is_skipped_after_max_attempts(
    serializer: JsonEventSerializer,
) -> None:
    store = InMemoryEventSource(serializer.registry)
    events = recorded("Plant", "p1", [ReadingRecorded(sensor="p1", value=float(n)) for n in range(4)])
    await store.append("Plant", "p1", 0, events)
    attempts: list[int] = []

    async def always_fails_on_two(outcome: ActionableContext[EventSummary]) -> None:
        attempts.append(outcome.message.version)
        if outcome.message.version == 2:
            raise RuntimeError("poison")

    checkpoints = MemoryPositionStore()
    source = event_store_source(store, "Plant", serializer, checkpoints, batch_size=2, poll=FAST)
    host = ProcessingHost(source, serializer, max_attempts=3).add(SummaryQuery(), always_fails_on_two)
    async with host:
        await eventually(
            lambda: checkpoints.positions.get("eventstore:Plant", {}).get("versions") == {"p1": 4},
            what="the checkpoint to move past the poison",
        )
    assert attempts.count(2) == 3, "tried max_attempts times, then skipped"
    assert host.stats.dead_lettered == 1
    assert checkpoints.positions["eventstore:Plant"]["versions"] == {"p1": 4}
