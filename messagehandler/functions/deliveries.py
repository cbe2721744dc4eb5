"""Trigger inputs as deliveries: the message a Functions trigger hands over, settled by how the function ends.

In Azure Functions the runtime settles: a function that returns completes the message, one that
raises leaves it to the runtime's retries (a Storage Queue message comes back with its dequeue count
raised and goes to `{queue}-poison` after `maxDequeueCount`; a Service Bus message is abandoned and
dead-lettered after the entity's max delivery count; an Event Hubs batch is retried only under a
retry policy). A `TriggerDelivery` records what the processing rules decided, so the adapter can end
the function accordingly.
"""

from __future__ import annotations

import asyncio
import enum
from datetime import timedelta

from messagehandler.channels.envelope import CloudEvent
from messagehandler.channels.protocol import ChannelKind, ReceivedMessage


class Settled(enum.Enum):
    COMPLETED = "complete"
    ABANDONED = "abandon"
    DEAD_LETTERED = "dead-letter"


class TriggerDelivery:
    """One message of a trigger input, decoded, with the outcome the processing rules gave it."""

    def __init__(self, envelope: CloudEvent, delivery_count: int, message_id: str) -> None:
        self.envelope = envelope
        self.message_id = message_id
        self._delivery_count = delivery_count
        self.settled: asyncio.Future[tuple[Settled, str]] = asyncio.get_running_loop().create_future()

    @property
    def delivery_count(self) -> int:
        return self._delivery_count

    def _settle(self, outcome: Settled, reason: str = "") -> None:
        if not self.settled.done():
            self.settled.set_result((outcome, reason))

    async def complete(self) -> None:
        self._settle(Settled.COMPLETED)

    async def abandon(self) -> None:
        self._settle(Settled.ABANDONED)

    async def dead_letter(self, reason: str) -> None:
        self._settle(Settled.DEAD_LETTERED, reason)


class TriggerReceiver:
    """A `ChannelReceiver` that hands out one invocation's deliveries once, then nothing until closed."""

    def __init__(
        self, name: str, kind: ChannelKind, deliveries: list[TriggerDelivery], *, messaging_system: str
    ) -> None:
        self._name = name
        self.kind = kind
        self.messaging_system = messaging_system
        """`messaging.system` of the trigger's service, so spans and metrics name it as a receiver of it would."""
        self._deliveries: list[TriggerDelivery] | None = deliveries
        self._closed = asyncio.Event()

    @property
    def name(self) -> str:
        return self._name

    async def receive(self, max_messages: int = 32, *, wait: timedelta = timedelta(seconds=1)) -> list[ReceivedMessage]:
        if self._deliveries is not None:
            batch, self._deliveries = self._deliveries, None
            return list(batch)
        await self._closed.wait()
        return []

    async def close(self) -> None:
        self._closed.set()
