"""Where a host reads from: any `ChannelReceiver`, or the event store itself through a catch-up feed."""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import logging
from collections import deque
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from messagehandler.channels.envelope import CloudEvent
from messagehandler.channels.protocol import ChannelKind, ChannelReceiver, ReceivedMessage
from messagehandler.events.event import Event
from messagehandler.events.preparing import prepare_to_write
from messagehandler.events.serialization import EventSerializer, UndecodedEvent, undecoded_as_placeholders
from messagehandler.eventsource.bad_rows import SkipBadRows
from messagehandler.eventsource.positions import DEFAULT_MARGIN, TypePosition, catch_up
from messagehandler.eventsource.protocol import EventSource, EventStream
from messagehandler.processing.errors import CorruptPositionError, ProcessingError
from messagehandler.telemetry.logs import log_fields

logger = logging.getLogger("messagehandler.processing")


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


class PositionStore(Protocol):
    """Where an event-store source keeps how far it has processed; must outlive the process in production."""

    async def load(self, name: str) -> TypePosition | None: ...

    async def save(self, name: str, position: TypePosition) -> None: ...


@dataclass
class MemoryPositionStore:
    """Positions in a dict: for tests, and for hosts that may start over after a restart."""

    positions: dict[str, dict[str, object]] = field(default_factory=dict)

    async def load(self, name: str) -> TypePosition | None:
        saved = self.positions.get(name)
        return TypePosition.from_json(saved) if saved is not None else None

    async def save(self, name: str, position: TypePosition) -> None:
        self.positions[name] = position.to_json()


class DocumentStore(Protocol):
    async def read(self, name: str) -> bytes | None: ...

    async def write(self, name: str, data: bytes) -> None: ...


class DocumentPositionStore:
    """Positions as JSON documents in a durable store: a projection checkpoint store works as one.

    `DocumentPositionStore(FileCheckpointStore(path))` keeps them in local files,
    `DocumentPositionStore(TableCheckpointStore.from_connection_string(conn))` in Table Storage
    (both from `messagehandler.projections`).
    """

    def __init__(self, documents: DocumentStore, *, prefix: str = "position-") -> None:
        self.documents = documents
        self.prefix = prefix

    async def load(self, name: str) -> TypePosition | None:
        """The saved position, None when there is none.

        Raises:
            CorruptPositionError: the document is not a position (names the document and the store).
        """
        document = self._name(name)
        data = await self.documents.read(document)
        if data is None:
            return None
        try:
            return TypePosition.from_json(json.loads(data))
        except (ValueError, UnicodeDecodeError, RecursionError, KeyError, TypeError, AttributeError) as error:
            where = type(self.documents).__name__
            raise CorruptPositionError(document, where, f"{type(error).__name__}: {error}") from None

    async def save(self, name: str, position: TypePosition) -> None:
        await self.documents.write(self._name(name), json.dumps(position.to_json()).encode("utf-8"))

    def _name(self, name: str) -> str:
        return self.prefix + "".join(c if c.isalnum() or c in "-_" else "-" for c in name)


class _Batch:
    __slots__ = ("generation", "remaining")

    def __init__(self, generation: int, remaining: int) -> None:
        self.generation = generation
        self.remaining = remaining


class StoredMessage:
    """An event read back from the store, as a delivery: completing it moves the checkpoint past it."""

    __slots__ = ("_batch", "_receiver", "envelope", "event", "seq")

    def __init__(self, event: Event, envelope: CloudEvent, receiver: CatchUpReceiver, batch: _Batch, seq: int) -> None:
        self.event = event
        self.envelope = envelope
        self.seq = seq
        self._receiver = receiver
        self._batch = batch

    @property
    def delivery_count(self) -> int:
        return self._receiver._deliveries.get(self.seq_key, 1)

    @property
    def seq_key(self) -> tuple[str, int]:
        meta = self.event.metadata
        return (meta.source_id, meta.version)

    async def complete(self) -> None:
        await self._receiver._completed(self)

    async def abandon(self) -> None:
        await self._receiver._rewind(self._batch.generation)

    async def dead_letter(self, reason: str) -> None:
        """The store cannot move an event aside: log it and move past it, so the stream goes on."""
        logger.error(
            "skipping event %s (%s v%d): %s",
            self.envelope.id,
            self.envelope.subject,
            self.event.metadata.version,
            reason,
            extra=log_fields(envelope=self.envelope),
        )
        await self._receiver._completed(self)


class CatchUpReceiver:
    """Reads every stream of one type from the event store, resuming from a saved position.

    The feed is `catch_up`: no global order exists, so a position is the version seen per stream and
    a high-water mark of commit times. Completed messages advance the committed versions, saved once
    per received batch; the committed high-water mark moves to a pass's mark only once every message
    read in that pass is completed, because a later stream of the pass may hold older events. An
    abandoned batch rewinds the read position to the committed one. When the store has nothing new,
    `receive` waits `wait` and reads again: the feed never ends. A stored event that cannot be decoded
    (unknown type, failed upcast, body that does not fit its class) does not stop the feed: it is
    delivered as a message that fails to decode, so the host retries it and dead-letters it (logs and
    skips it) on its `max_attempts`-th delivery, like any poison message. A row that is not even an
    event (another tool wrote it without the event columns) has no message to deliver: its stream is
    skipped and reported through `bad_rows` (a `SkipBadRows` of the receiver's own unless one is given),
    and the stream is read again from its last processed version when it next changes.
    """

    kind = ChannelKind.STREAMING
    messaging_system = "messagehandler.event_store"
    """`messaging.system` of its spans and metrics (OpenTelemetry messaging conventions)."""

    def __init__(
        self,
        store: EventSource,
        stream_type: str,
        serializer: EventSerializer,
        checkpoints: PositionStore,
        *,
        name: str | None = None,
        margin: timedelta = DEFAULT_MARGIN,
        bad_rows: SkipBadRows | None = None,
    ) -> None:
        self.store = store
        self.bad_rows = bad_rows if bad_rows is not None else SkipBadRows()
        self.stream_type = stream_type
        self.serializer = serializer
        self.checkpoints = checkpoints
        self._name = name if name is not None else f"eventstore:{stream_type}"
        self.margin = margin
        self.rewinds = 0
        self._generation = 0
        self._committed: TypePosition | None = None
        self._reading = TypePosition()
        self._feed: AsyncGenerator[EventStream, None] | None = None
        self._buffer: deque[tuple[int, Event]] = deque()
        self._next_seq = 0
        self._outstanding: set[int] = set()
        self._pass_marks: deque[tuple[int, datetime | None]] = deque()
        self._deliveries: dict[tuple[str, int], int] = {}

    @property
    def name(self) -> str:
        return self._name

    async def receive(self, max_messages: int = 32, *, wait: timedelta = timedelta(seconds=1)) -> list[ReceivedMessage]:
        if self._committed is None:
            self._committed = await self.checkpoints.load(self._name) or TypePosition()
            self._reading = copy.deepcopy(self._committed)
        if len(self._buffer) < max_messages:
            await self._fill(max_messages)
        if not self._buffer:
            await asyncio.sleep(wait.total_seconds())
            return []
        batch = _Batch(self._generation, 0)
        messages: list[ReceivedMessage] = []
        await prepare_to_write(
            self.serializer,
            [e for _, e in itertools.islice(self._buffer, max_messages) if not isinstance(e, UndecodedEvent)],
        )
        while self._buffer and len(messages) < max_messages:
            seq, event = self._buffer.popleft()
            if isinstance(event, UndecodedEvent):  # the host fails to decode it, retries, then dead-letters it
                envelope = CloudEvent.from_stored(event.metadata, event.body)
            else:
                envelope = CloudEvent.from_event(event, self.serializer)
            message = StoredMessage(event, envelope, self, batch, seq)
            key = message.seq_key
            self._deliveries[key] = self._deliveries.get(key, 0) + 1
            messages.append(message)
        batch.remaining = len(messages)
        return messages

    async def _fill(self, wanted: int) -> bool:
        """Read streams until `wanted` events are buffered or the pass ends; True when any were buffered."""
        before = len(self._buffer)
        while len(self._buffer) < wanted:
            if self._feed is None:
                self._feed = catch_up(
                    self.store, self.stream_type, self._reading, margin=self.margin, bad_rows=self.bad_rows
                )
            try:
                with undecoded_as_placeholders():
                    stream = await anext(self._feed)
            except StopAsyncIteration:
                self._feed = None
                self._pass_marks.append((self._next_seq - 1, self._reading.high_water))
                if self._committed is not None and self._promote_pass_marks(self._committed):
                    await self.checkpoints.save(self._name, self._committed)
                break
            except Exception:
                await self._drop_feed()  # a failed read restarts the pass from the versions buffered so far
                raise
            for event in stream.events:
                self._buffer.append((self._next_seq, event))
                self._outstanding.add(self._next_seq)
                self._next_seq += 1
        return len(self._buffer) > before

    def _promote_pass_marks(self, committed: TypePosition) -> bool:
        """Move the committed high-water mark to that of every pass whose messages are all completed."""
        lowest_open = min(self._outstanding, default=self._next_seq)
        moved = False
        while self._pass_marks and self._pass_marks[0][0] < lowest_open:
            _, mark = self._pass_marks.popleft()
            if mark is not None and (committed.high_water is None or mark > committed.high_water):
                committed.high_water = mark
                moved = True
        return moved

    async def _completed(self, message: StoredMessage) -> None:
        batch = message._batch
        if batch.generation != self._generation or self._committed is None:
            return
        meta = message.event.metadata
        committed = self._committed
        if meta.version > committed.seen(meta.source_id):
            committed.versions[meta.source_id] = meta.version
        self._outstanding.discard(message.seq)
        self._deliveries.pop(message.seq_key, None)
        self._promote_pass_marks(committed)
        batch.remaining -= 1
        if batch.remaining == 0:
            await self.checkpoints.save(self._name, committed)

    async def _drop_feed(self) -> None:
        feed, self._feed = self._feed, None
        if feed is not None:
            await feed.aclose()

    async def _rewind(self, generation: int) -> None:
        if generation != self._generation or self._committed is None:
            return
        self._generation += 1
        self.rewinds += 1
        self._buffer.clear()
        self._outstanding.clear()
        self._pass_marks.clear()
        await self._drop_feed()
        self._reading = copy.deepcopy(self._committed)

    async def close(self) -> None:
        await self._drop_feed()
        self._buffer.clear()


def event_store_source(
    store: EventSource,
    stream_type: str,
    serializer: EventSerializer,
    checkpoints: PositionStore,
    *,
    name: str | None = None,
    batch_size: int = 256,
    poll: timedelta = timedelta(seconds=1),
    bad_rows: SkipBadRows | None = None,
) -> Source:
    """A streaming source over the events of one stream type, from its saved checkpoint.

    Rows that are not events are skipped with their stream and reported to `bad_rows` (see `CatchUpReceiver`).
    """
    receiver = CatchUpReceiver(store, stream_type, serializer, checkpoints, name=name, bad_rows=bad_rows)
    return Source(receiver, ChannelKind.STREAMING, batch_size, poll)
