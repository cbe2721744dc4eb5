"""The host keeps going when a receive fails (a failed read-ahead of the event store) or a query raises while fed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
import reactivex
from reactivex import Observable, abc

from messagehandler import InMemoryEventSource, JsonEventSerializer, SkipBadRows
from messagehandler.eventsource.protocol import EventStream
from messagehandler.processing import (
    ActionableContext,
    MemoryPositionStore,
    ProcessingContext,
    ProcessingHost,
    channel_source,
    event_store_source,
)
from messagehandler.testing import recorded
from samples.processing.telemetry import ReadingRecorded
from samples.processing.transformation import EventSummary, SummaryQuery
from tests.processing.conftest import readings
from tests.processing.fakes import MemoryQueue, eventually

FAST = timedelta(milliseconds=20)


class FailingReads(InMemoryEventSource):
    """An in-memory store whose change feed fails once, after handing out `fail_after` streams."""

    def __init__(self, *args: Any, fail_after: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fail_after = fail_after
        self.failures = 0

    async def read_changes(  # type: ignore[override]
        self, stream_type: str, since: Any = None, *, bad_rows: SkipBadRows | None = None
    ) -> AsyncIterator[EventStream]:
        handed = 0
        async for stream in super().read_changes(stream_type, since, bad_rows=bad_rows):
            if handed == self.fail_after and not self.failures:
                self.failures += 1
                raise ConnectionError("the store went away mid-pass")
            handed += 1
            yield stream


async def test_a_failed_read_ahead_of_the_event_store_loses_no_event(
    serializer: JsonEventSerializer, caplog: pytest.LogCaptureFixture
) -> None:
    store = FailingReads(serializer.registry, fail_after=2)
    for name in "abcde":
        await store.append("Plant", name, 0, recorded("Plant", name, [ReadingRecorded(sensor=name, value=1.0)]))
    seen: list[str] = []

    async def act(outcome: ActionableContext[EventSummary]) -> None:
        seen.append(outcome.contexts[0].envelope.subject)

    source = event_store_source(store, "Plant", serializer, MemoryPositionStore(), batch_size=2, poll=FAST)
    async with ProcessingHost(source, serializer).add(SummaryQuery(), act) as host:
        await eventually(lambda: len(set(seen)) == 5, what="every stream processed")
        await asyncio.wait_for(host.idle(), 5)

    assert store.failures == 1
    assert sorted(set(seen)) == [f"Plant/{name}" for name in "abcde"]
    assert "receiving from eventstore:Plant failed" in caplog.text


class RaisingWhileFed:
    """A query whose subscriber raises in on_next, instead of sending the error down its stream."""

    name = "raising"

    def __init__(self, poison: str) -> None:
        self.poison = poison
        self.builds = 0

    def build(self, stream: Observable[ProcessingContext]) -> Observable[ActionableContext[str]]:
        self.builds += 1

        def subscribe(
            observer: abc.ObserverBase[ActionableContext[str]], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            def on_next(context: ProcessingContext) -> None:
                if context.message_id == self.poison:
                    raise RuntimeError("query bug")
                observer.on_next(ActionableContext.of(context.message_id, context))

            return stream.subscribe(on_next, observer.on_error, observer.on_completed, scheduler=scheduler)

        return reactivex.create(subscribe)


async def test_a_query_raising_while_fed_fails_that_message_only_and_is_rebuilt(
    queue: MemoryQueue, serializer: JsonEventSerializer
) -> None:
    sent = readings(serializer, ("a", 1.0), ("b", 2.0), ("c", 3.0))
    query = RaisingWhileFed(sent[1].id)
    handled: list[str] = []

    async def act(outcome: ActionableContext[str]) -> None:
        handled.append(outcome.message)

    queue.put(sent)
    host = ProcessingHost(channel_source(queue, wait=FAST), serializer, max_attempts=2).add(query, act)
    async with host:
        await eventually(lambda: queue.dead, what="the poison message to be dead-lettered")
        await eventually(lambda: len(queue.outcomes("complete")) == 2, what="the others completed")

    assert handled == [sent[0].id, sent[2].id]
    assert queue.outcomes("abandon") == [sent[1].id]
    assert [message.envelope.id for message in queue.dead] == [sent[1].id]
    assert query.builds >= 2, "the query was not rebuilt after raising"
