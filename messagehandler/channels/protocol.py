"""The `Channel` protocol: how committed events leave the store, and how they are read back.

Three kinds, with different promises (see docs/concepts/channels.md):

- transactional: durable; each message consumed and confirmed on its own; at-least-once with
  server-side redelivery (Service Bus queues and topics, Storage Queues);
- streaming: durable; consumed and confirmed in batches by moving a cursor (Event Hubs);
- volatile: pushed; at-most-once; lost when the receiver is down (Event Grid, webhooks, in-process).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import timedelta
from typing import Protocol, runtime_checkable

from messagehandler.channels.envelope import CloudEvent


class ChannelKind(enum.Enum):
    TRANSACTIONAL = "transactional"
    STREAMING = "streaming"
    VOLATILE = "volatile"


@runtime_checkable
class Channel(Protocol):
    """Publishes envelopes; a channel never reorders the envelopes of one call."""

    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> ChannelKind: ...

    @property
    def max_message_bytes(self) -> int:
        """The largest envelope (as sent on the wire) the channel accepts."""
        ...

    async def publish(self, envelopes: Sequence[CloudEvent]) -> None:
        """Send all envelopes in order, or raise; an oversize envelope raises before anything is sent."""
        ...

    async def close(self) -> None: ...


class ReceivedMessage(Protocol):
    """One delivery of an envelope from a channel that can be read, with its settlement."""

    @property
    def envelope(self) -> CloudEvent: ...

    @property
    def delivery_count(self) -> int:
        """How many times this message has been delivered, this delivery included."""
        ...

    async def complete(self) -> None:
        """The message was handled: remove it for good."""
        ...

    async def abandon(self) -> None:
        """The message was not handled: make it available again (after the channel's delay)."""
        ...

    async def dead_letter(self, reason: str) -> None:
        """The message will never be handled: move it aside for an operator."""
        ...


@runtime_checkable
class ChannelReceiver(Protocol):
    """Reads messages from a channel; used by the processing host and by tests."""

    @property
    def name(self) -> str: ...

    async def receive(self, max_messages: int = 32, *, wait: timedelta = timedelta(seconds=1)) -> list[ReceivedMessage]:
        """Up to `max_messages` messages, waiting at most `wait` for the first one."""
        ...

    async def close(self) -> None: ...
