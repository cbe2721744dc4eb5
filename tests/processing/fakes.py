"""In-memory receivers with the settlement behaviour of real brokers, to test the host's semantics exactly."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta

import reactivex.operators as ops
from reactivex import Observable

from messagehandler import Event, JsonEventSerializer
from messagehandler.channels import ChannelKind, CloudEvent, ReceivedMessage
from messagehandler.processing import ActionableContext, ProcessingContext


@dataclass(eq=False)
class QueuedMessage:
    envelope: CloudEvent
    queue: MemoryQueue
    delivery_count: int = 0

    async def complete(self) -> None:
        self.queue.settle(self, "complete")

    async def abandon(self) -> None:
        self.queue.settle(self, "abandon")

    async def dead_letter(self, reason: str) -> None:
        self.queue.settle(self, "dead_letter")


@dataclass(eq=False)
class MemoryQueue:
    """A transactional queue: a received message is invisible until completed or abandoned."""

    name: str = "memory-queue"
    kind: ChannelKind = ChannelKind.TRANSACTIONAL
    visible: deque[QueuedMessage] = field(default_factory=deque)
    locked: set[QueuedMessage] = field(default_factory=set)
    log: list[tuple[str, str]] = field(default_factory=list)
    dead: list[QueuedMessage] = field(default_factory=list)
    max_unsettled: int = 0
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def put(self, envelopes: Iterable[CloudEvent]) -> None:
        self.visible.extend(QueuedMessage(envelope, self) for envelope in envelopes)
        self._arrived.set()

    def settle(self, message: QueuedMessage, outcome: str) -> None:
        assert message in self.locked, f"{outcome} of a message not locked: {message.envelope.id}"
        self.locked.discard(message)
        self.log.append((outcome, message.envelope.id))
        if outcome == "abandon":
            self.visible.append(message)
            self._arrived.set()
        elif outcome == "dead_letter":
            self.dead.append(message)

    def outcomes(self, outcome: str) -> list[str]:
        return [event_id for done, event_id in self.log if done == outcome]

    async def receive(self, max_messages: int = 32, *, wait: timedelta = timedelta(seconds=1)) -> list[ReceivedMessage]:
        if not self.visible:
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), wait.total_seconds())
            except TimeoutError:
                return []
        batch: list[ReceivedMessage] = []
        while self.visible and len(batch) < max_messages:
            message = self.visible.popleft()
            message.delivery_count += 1
            self.locked.add(message)
            batch.append(message)
        self.max_unsettled = max(self.max_unsettled, len(self.locked))
        return batch

    async def close(self) -> None:
        return None


def envelopes(events: Iterable[Event], serializer: JsonEventSerializer) -> list[CloudEvent]:
    return [CloudEvent.from_event(event, serializer) for event in events]


async def eventually(condition: object, *, within: float = 5.0, what: str = "condition") -> None:
    """Poll a condition with a deadline: synchronisation without sleeping a guessed time."""
    assert callable(condition)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


class EveryEvent:
    """A standing query whose outcomes are the received events themselves, one per message."""

    def build(self, stream: Observable[ProcessingContext]) -> Observable[ActionableContext[Event]]:
        return stream.pipe(ops.map(lambda context: ActionableContext.of(context.message, context)))
