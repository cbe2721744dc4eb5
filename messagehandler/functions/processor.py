"""Running standing queries and projection actions inside Azure Functions, by the worker's rules.

`FunctionProcessor` holds the same standing queries and actions a `ProcessingHost` would, and runs one
trigger invocation through a host of its own: the same decoding (a CloudEvent, by the channel's binding),
the same retry and poison rules (`max_attempts`), the same settlement semantics. What the runtime
cannot do for the function is mapped onto how the function ends:

| the rules decide | Storage Queue trigger | Service Bus trigger | Event Hubs trigger |
|---|---|---|---|
| complete | return | return | return |
| retry (abandon) | raise: dequeued again | raise: abandoned | raise: the batch again, under a retry policy |
| set aside (poison, not a CloudEvent) | copy to `{queue}-poison` (with `poison_queue=`), return; else raise | raise: dead-lettered after the max delivery count | log and skip, return |

Queries run per invocation: stateless queries (transformations, filters, the projection action) behave
as in the worker; a window never spans two invocations.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any, TypeVar

from messagehandler.channels.envelope import CloudEvent
from messagehandler.channels.errors import MalformedEnvelopeError
from messagehandler.channels.protocol import ChannelKind
from messagehandler.channels.transactional.servicebus_messages import envelope_of
from messagehandler.events.serialization import EventSerializer
from messagehandler.extras import requires_extra
from messagehandler.functions.deliveries import Settled, TriggerDelivery, TriggerReceiver
from messagehandler.processing.actions import Action
from messagehandler.processing.errors import ProcessingError
from messagehandler.processing.host import ProcessingHost
from messagehandler.processing.sources import Source
from messagehandler.processing.standing_query import StandingQuery

with requires_extra("functions", "the Azure Functions adapters", ("azure.functions",)):
    import azure.functions as func

T = TypeVar("T")
logger = logging.getLogger("messagehandler.functions")

PoisonQueue = Callable[[bytes, str], Awaitable[None]]
"""Puts a message body aside with the reason: `storage_poison_queue(connection_string, "orders")` copies it to
`orders-poison`, as the worker's Storage Queue receiver does."""


class RetryMessageError(ProcessingError):
    """Raised from a function so the runtime delivers the message (or batch) again; the message says why."""


class FunctionProcessor:
    """Standing queries and their actions, run for each trigger invocation; see the module docstring."""

    def __init__(
        self,
        serializer: EventSerializer,
        *,
        max_attempts: int = 5,
        poison_queue: PoisonQueue | None = None,
        name: str = "function",
    ) -> None:
        self.serializer = serializer
        self.max_attempts = max_attempts
        self.poison_queue = poison_queue
        self.name = name
        self._queries: list[tuple[StandingQuery[Any], Action[Any]]] = []

    def add(self, query: StandingQuery[T], action: Action[T]) -> FunctionProcessor:
        self._queries.append((query, action))
        return self

    async def queue_message(self, message: func.QueueMessage) -> None:
        """Process one Storage Queue trigger message.

        Raises:
            RetryMessageError: the message should be delivered again (the runtime moves it to the poison
                queue after `maxDequeueCount`; keep `max_attempts` equal to it).
        """
        body = message.get_body()
        count = message.dequeue_count or 1
        try:
            envelope = CloudEvent.from_json(body)
        except MalformedEnvelopeError as error:
            await self._set_aside(body, str(message.id), f"not a CloudEvent: {error}")
            return
        delivery = TriggerDelivery(envelope, count, str(message.id))
        await self._run(ChannelKind.TRANSACTIONAL, [delivery], body, system="azure.storage.queue")

    async def service_bus_message(self, message: func.ServiceBusMessage) -> None:
        """Process one Service Bus trigger message (CloudEvents AMQP binding, binary or structured).

        Raises:
            RetryMessageError: the message should be abandoned (or is not a CloudEvent: Service Bus
                dead-letters it after the entity's max delivery count).
        """
        received = _ServiceBusBody(message)
        try:
            envelope = envelope_of(received)  # type: ignore[arg-type]
        except MalformedEnvelopeError as error:
            raise RetryMessageError(f"message {message.message_id} is not a CloudEvent: {error}") from None
        count = (message.delivery_count or 0) + 1
        delivery = TriggerDelivery(envelope, count, str(message.message_id))
        await self._run(ChannelKind.TRANSACTIONAL, [delivery], None, system="servicebus")

    async def event_hub_events(self, events: Sequence[func.EventHubEvent]) -> None:
        """Process an Event Hubs trigger batch (`cardinality="many"`); events that are no CloudEvent are skipped.

        Raises:
            RetryMessageError: an action failed: the batch should run again (configure a retry policy).
        """
        deliveries = []
        for event in events:
            try:
                envelope = CloudEvent.from_json(event.get_body())
            except MalformedEnvelopeError as error:
                logger.error("%s: skipping event %s, not a CloudEvent: %s", self.name, event.sequence_number, error)
                continue
            deliveries.append(TriggerDelivery(envelope, 1, str(event.sequence_number)))
        if deliveries:
            await self._run(ChannelKind.STREAMING, deliveries, None, system="eventhubs")

    async def _run(
        self, kind: ChannelKind, deliveries: list[TriggerDelivery], body: bytes | None, *, system: str
    ) -> None:
        receiver = TriggerReceiver(self.name, kind, deliveries, messaging_system=system)
        host = ProcessingHost(
            Source(receiver, kind, batch_size=max(1, len(deliveries)), wait=timedelta(0)),
            self.serializer,
            max_attempts=self.max_attempts,
        )
        for query, action in self._queries:
            host.add(query, action)
        await host.start()
        try:
            outcomes = await asyncio.gather(*(delivery.settled for delivery in deliveries))
        finally:
            await receiver.close()  # ends the host's receive loop, so stop() need not wait for it
            await host.stop(timedelta(0))
        retry = [
            (d, reason)
            for d, (outcome, reason) in zip(deliveries, outcomes, strict=True)
            if outcome is Settled.ABANDONED
        ]
        poisoned = [
            (d, reason)
            for d, (outcome, reason) in zip(deliveries, outcomes, strict=True)
            if outcome is Settled.DEAD_LETTERED
        ]
        if retry:
            ids = ", ".join(delivery.message_id for delivery, _ in retry)
            raise RetryMessageError(f"{self.name}: processing failed for {ids}; the runtime delivers it again")
        for delivery, reason in poisoned:
            if kind is ChannelKind.STREAMING:
                logger.error("%s: no dead-letter queue; skipping event %s: %s", self.name, delivery.envelope.id, reason)
            else:
                await self._set_aside(body or delivery.envelope.to_bytes(), delivery.message_id, reason)

    async def _set_aside(self, body: bytes, message_id: str, reason: str) -> None:
        if self.poison_queue is None:
            raise RetryMessageError(f"{self.name}: message {message_id} cannot be processed ({reason}); "
                                    "the runtime moves it aside after its delivery limit")  # fmt: skip
        await self.poison_queue(body, reason)
        logger.warning("%s: message %s set aside: %s", self.name, message_id, reason)


class _ServiceBusBody:
    """A trigger's Service Bus message with the attributes the CloudEvents AMQP binding reads."""

    def __init__(self, message: func.ServiceBusMessage) -> None:
        self.body = message.get_body()
        self.content_type = message.content_type
        self.application_properties = message.application_properties or message.user_properties or {}
        self.message_id = message.message_id


async def relay_on_timer(relay: Any, timer: Any = None) -> Any:
    """A timer-triggered outbox relay: one pass of `relay.run_once()`, logged; returns its report.

    Overlapping runs are prevented by the Functions runtime itself (a timer trigger holds a blob lease
    per function), so one pass runs at a time across every instance of the app.
    """
    if timer is not None and getattr(timer, "past_due", False):
        logger.info("outbox relay: the timer is past due; relaying now")
    report = await relay.run_once()
    logger.info(
        "outbox relay: %d entries, %d events published, %d failed", report.entries, report.published, report.failed
    )
    return report
