"""Where a host reads from: any `ChannelReceiver`, or the event store itself through a catch-up feed."""

from __future__ import annotations

import asyncio
import copy
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from messagehandler.channels.envelope import CloudEvent
from messagehandler.channels.protocol import ChannelKind, ChannelReceiver, ReceivedMessage
from messagehandler.events.event import Event
from messagehandler.events.serialization import EventSerializer
from messagehandler.eventsource.positions import DEFAULT_MARGIN, TypePosition, catch_up
from messagehandler.eventsource.protocol import EventSource, EventStream
from messagehandler.processing.errors import ProcessingError


@dataclass(frozen=True, slots=True)
class Source:
    """A receiver and the kind of channel behind it, which decides how its messages are settled."""

    receiver: ChannelReceiver
    kind: ChannelKind
    batch_size: int = 32
    wait: timedelta = timedelta(seconds=1)

    @property
    def name(self) -> str:
        return self.receiver.name


def channel_source(
    receiver: ChannelReceiver,
    kind: ChannelKind | None = None,
    *,
    batch_size: int = 32,
    wait: timedelta = timedelta(seconds=1),
) -> Source:
    """A source over any channel receiver; the kind defaults to the receiver's own `kind`, when it has one."""
    resolved = kind if kind is not None else getattr(receiver, "kind", None)
    if not isinstance(resolved, ChannelKind):
        raise ProcessingError(f"receiver {receiver.name!r} does not say its channel kind: pass kind=")
    return Source(receiver, resolved, batch_size, wait)


class CheckpointStore(Protocol):
    """Where an event-store source keeps how far it has processed; must outlive the process in production."""

    async def load(self, name: str) -> TypePosition | None: ...

    async def save(self, name: str, position: TypePosition) -> None: ...


@dataclass
class MemoryCheckpointStore:
    positions: dict[str, dict[str, object]] = field(default_factory=dict)

    async def load(self, name: str) -> TypePosition | None:
        saved = self.positions.get(name)
        return TypePosition.from_json(saved) if saved is not None else None

    async def save(self, name: str, position: TypePosition) -> None:
        self.positions[name] = position.to_json()


class _Batch:
    __slots__ = ("generation", "remaining")

    def __init__(self, generation: int, remaining: int) -> None:
        self.generation = generation
        self.remaining = remaining


class StoredMessage:
    """An event read back from the store, as a delivery: completing it moves the checkpoint past it."""

    __slots__ = ("_batch", "_receiver", "envelope", "event")

    def __init__(self, event: Event, envelope: CloudEvent, receiver: CatchUpReceiver, batch: _Batch) -> None:
        self.event = event
        self.envelope = envelope
        self._receiver = receiver
        self._batch = batch

    @property
    def delivery_count(self) -> int:
        return self._receiver.rewinds + 1

    async def complete(self) -> None:
        await self._receiver._completed(self)

    async def abandon(self) -> None:
        self._receiver._rewind(self._batch.generation)

    async def dead_letter(self, reason: str) -> None:
        """The store cannot move an event aside; the batch is rewound like a failure."""
        self._receiver._rewind(self._batch.generation)


class CatchUpReceiver:
    """Reads every stream of one type from the event store, resuming from a saved position.

    The feed is `catch_up`: no global order exists, so a position is the version seen per stream and
    a high-water mark of commit times. Completed messages advance the committed position, saved once
    per received batch; an abandoned batch rewinds the read position to the committed one. When the
    store has nothing new, `receive` waits `wait` and reads again: the feed never ends.
    """

    kind = ChannelKind.STREAMING

    def __init__(
        self,
        store: EventSource,
        stream_type: str,
        serializer: EventSerializer,
        checkpoints: CheckpointStore,
        *,
        name: str | None = None,
        margin: timedelta = DEFAULT_MARGIN,
    ) -> None:
        self.store = store
        self.stream_type = stream_type
        self.serializer = serializer
        self.checkpoints = checkpoints
        self._name = name if name is not None else f"eventstore:{stream_type}"
        self.margin = margin
        self.rewinds = 0
        self._generation = 0
        self._committed: TypePosition | None = None
        self._reading = TypePosition()
        self._feed: AsyncIterator[EventStream] | None = None
        self._buffer: deque[Event] = deque()

    @property
    def name(self) -> str:
        return self._name

    async def receive(self, max_messages: int = 32, *, wait: timedelta = timedelta(seconds=1)) -> list[ReceivedMessage]:
        if self._committed is None:
            self._committed = await self.checkpoints.load(self._name) or TypePosition()
            self._reading = copy.deepcopy(self._committed)
        if not self._buffer and not await self._fill(max_messages):
            await asyncio.sleep(wait.total_seconds())
            return []
        batch = _Batch(self._generation, 0)
        messages: list[ReceivedMessage] = []
        while self._buffer and len(messages) < max_messages:
            event = self._buffer.popleft()
            envelope = CloudEvent.from_event(event, self.serializer)
            messages.append(StoredMessage(event, envelope, self, batch))
        batch.remaining = len(messages)
        if len(self._buffer) < max_messages:
            await self._fill(max_messages)
        return messages

    async def _fill(self, wanted: int) -> bool:
        """Read streams until `wanted` events are buffered or the pass ends; True when any were buffered."""
        before = len(self._buffer)
        while len(self._buffer) < wanted:
            if self._feed is None:
                self._feed = catch_up(self.store, self.stream_type, self._reading, margin=self.margin)
            try:
                stream = await anext(self._feed)
            except StopAsyncIteration:
                self._feed = None
                break
            self._buffer.extend(stream.events)
        return len(self._buffer) > before

    async def _completed(self, message: StoredMessage) -> None:
        batch = message._batch
        if batch.generation != self._generation or self._committed is None:
            return
        meta = message.event.metadata
        committed = self._committed
        if meta.version > committed.seen(meta.source_id):
            committed.versions[meta.source_id] = meta.version
        if meta.stored_at is not None and (committed.high_water is None or meta.stored_at > committed.high_water):
            committed.high_water = meta.stored_at
        batch.remaining -= 1
        if batch.remaining == 0:
            await self.checkpoints.save(self._name, committed)

    def _rewind(self, generation: int) -> None:
        if generation != self._generation or self._committed is None:
            return
        self._generation += 1
        self.rewinds += 1
        self._buffer.clear()
        self._feed = None
        self._reading = copy.deepcopy(self._committed)

    async def close(self) -> None:
        self._feed = None
        self._buffer.clear()


def event_store_source(
    store: EventSource,
    stream_type: str,
    serializer: EventSerializer,
    checkpoints: CheckpointStore,
    *,
    name: str | None = None,
    batch_size: int = 256,
    poll: timedelta = timedelta(seconds=1),
) -> Source:
    """A streaming source over the events of one stream type, from its saved checkpoint."""
    receiver = CatchUpReceiver(store, stream_type, serializer, checkpoints, name=name)
    return Source(receiver, ChannelKind.STREAMING, batch_size, poll)
