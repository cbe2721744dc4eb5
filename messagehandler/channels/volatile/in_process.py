"""In-process channel: committed events pushed to subscribers and a receiver inside the same process.

For a single-process application (or a test) that wants the processing host and live views
without a broker. Nothing is durable: a full buffer drops its oldest message, a process that
stops loses what it holds, and a message is handed out once, so delivery is at most once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from messagehandler.channels.envelope import CloudEvent
from messagehandler.channels.lifecycle import Closeable
from messagehandler.channels.limits import encode_within_limit
from messagehandler.channels.protocol import ChannelKind, ReceivedMessage
from messagehandler.telemetry.logs import log_fields

logger = logging.getLogger(__name__)

Subscriber = Callable[[CloudEvent], Awaitable[None]]

DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024


@dataclass(eq=False, slots=True)
class InProcessMessage:
    """A delivery from the in-process buffer; settling it changes nothing, as nothing is kept."""

    envelope: CloudEvent
    channel: str
    delivery_count: int = 1

    async def complete(self) -> None:
        return None

    async def abandon(self) -> None:
        return None

    async def dead_letter(self, reason: str) -> None:
        logger.warning(
            "in-process channel %r dropped event %s: %s",
            self.channel,
            self.envelope.id,
            reason,
            extra=log_fields(envelope=self.envelope),
        )


class Subscription:
    """Handle returned by `InProcessChannel.subscribe`; `cancel()` stops further pushes."""

    def __init__(self, channel: InProcessChannel, subscriber: Subscriber) -> None:
        self._channel = channel
        self._subscriber = subscriber

    def cancel(self) -> None:
        self._channel._unsubscribe(self._subscriber)


class InProcessChannel(Closeable):
    """A volatile channel and its receiver in one object.

    Subscribers are awaited one after another for each envelope, in publish order, so each sees
    every stream in order; a failing subscriber is logged and skipped, never fails the publish.
    When `buffer_size` is not 0 every envelope is also buffered for `receive()`; once full, the
    oldest is dropped and counted in `dropped`.
    """

    messaging_system = "messagehandler.in_process"
    """`messaging.system` of its spans and metrics (OpenTelemetry messaging conventions)."""

    def __init__(
        self,
        name: str = "in-process",
        *,
        buffer_size: int = 10_000,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    ) -> None:
        if buffer_size < 0:
            raise ValueError("buffer_size must be 0 (no buffer) or positive")
        self._name = name
        self._max_message_bytes = max_message_bytes
        self._buffer_size = buffer_size
        self._buffer: deque[CloudEvent] = deque()
        self._arrived = asyncio.Event()
        self._subscribers: list[Subscriber] = []
        self.dropped = 0

    @property
    def name(self) -> str:
        return self._name

    @property
    def kind(self) -> ChannelKind:
        return ChannelKind.VOLATILE

    @property
    def max_message_bytes(self) -> int:
        return self._max_message_bytes

    def subscribe(self, subscriber: Subscriber) -> Subscription:
        self._subscribers.append(subscriber)
        return Subscription(self, subscriber)

    def _unsubscribe(self, subscriber: Subscriber) -> None:
        if subscriber in self._subscribers:
            self._subscribers.remove(subscriber)

    async def publish(self, envelopes: Sequence[CloudEvent]) -> None:
        self._ensure_open()
        encode_within_limit(self._name, envelopes, self._max_message_bytes, CloudEvent.to_bytes)
        for envelope in envelopes:
            self._buffer_envelope(envelope)
            for subscriber in list(self._subscribers):
                try:
                    await subscriber(envelope)
                except Exception:
                    logger.exception("subscriber of in-process channel %r failed on event %s", self._name, envelope.id)

    def _buffer_envelope(self, envelope: CloudEvent) -> None:
        if self._buffer_size == 0:
            return
        if len(self._buffer) >= self._buffer_size:
            self._buffer.popleft()
            self.dropped += 1
        self._buffer.append(envelope)
        self._arrived.set()

    async def receive(self, max_messages: int = 32, *, wait: timedelta = timedelta(seconds=1)) -> list[ReceivedMessage]:
        """Whatever is buffered, up to `max_messages`; waits at most `wait` for the first one.

        Taken from the buffer in one step: receiving is on the processing host's path for every message.
        """
        buffer = self._buffer
        if not buffer:
            deadline = time.monotonic() + wait.total_seconds()
            while not buffer:
                if self._closed:
                    return []
                self._arrived.clear()
                try:
                    await asyncio.wait_for(self._arrived.wait(), max(0.0, deadline - time.monotonic()))
                except TimeoutError:
                    return []
        name, take = self._name, buffer.popleft
        return [InProcessMessage(take(), name) for _ in range(min(max_messages, len(buffer)))]

    async def _close(self) -> None:
        self._subscribers.clear()

    def __repr__(self) -> str:
        return f"InProcessChannel(name={self._name!r}, buffered={len(self._buffer)}, dropped={self.dropped})"
