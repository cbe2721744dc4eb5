"""Reading a Service Bus queue or subscription in peek-lock mode, settling each message on its own.

A received message is locked for the entity's lock duration: `complete` removes it, `abandon`
unlocks it for redelivery (its delivery count goes up; past the entity's max delivery count
Service Bus dead-letters it by itself), `dead_letter` moves it to the entity's dead-letter queue
with the reason. A message that is not a CloudEvent is dead-lettered on receive, on its own: no
handler could ever process it, and redelivering it would only block the ones behind it. If that
dead-lettering fails, the message is left to its lock (Service Bus delivers it again and the
receiver tries again) and the rest of the batch is handed out all the same.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import timedelta
from typing import TYPE_CHECKING, Protocol

from messagehandler.channels.azure_messaging import AzureMessagingAdapter
from messagehandler.channels.envelope import CloudEvent
from messagehandler.channels.errors import ChannelError, MalformedEnvelopeError, MessageLockLostError
from messagehandler.channels.protocol import ChannelKind, ReceivedMessage
from messagehandler.channels.transactional.servicebus_messages import envelope_of
from messagehandler.extras import requires_extra
from messagehandler.telemetry.messaging import dead_lettered

with requires_extra("servicebus", "the Service Bus channel", ("azure.servicebus",)):
    from azure.servicebus import ServiceBusReceivedMessage
    from azure.servicebus.aio import AutoLockRenewer
    from azure.servicebus.exceptions import MessageLockLostError as SdkMessageLockLostError

if TYPE_CHECKING:
    from azure.servicebus.aio import ServiceBusClient, ServiceBusReceiver

logger = logging.getLogger(__name__)

NOT_A_CLOUD_EVENT = "NotACloudEvent"


class Settler(Protocol):
    """Whoever holds the link a delivery came on: a receiver, or one session of a session receiver."""

    async def settle(
        self, message: ServiceBusReceivedMessage, action: str, call: Callable[[ServiceBusReceiver], Awaitable[None]]
    ) -> None: ...


async def settle(
    adapter: AzureMessagingAdapter,
    sdk: ServiceBusReceiver,
    message: ServiceBusReceivedMessage,
    action: str,
    call: Callable[[ServiceBusReceiver], Awaitable[None]],
) -> None:
    """Settle through the SDK receiver the message came on; a late or repeated settlement gets its own error."""
    with adapter._errors(f"{action} message {message.message_id}"):
        try:
            await call(sdk)
        except SdkMessageLockLostError:
            raise MessageLockLostError(adapter.name, str(message.message_id), action) from None
        except ValueError as error:  # the SDK's answer to a second settlement
            raise ChannelError(
                f"cannot {action} message {message.message_id} on channel {adapter.name!r}: {error}"
            ) from None


async def set_aside(
    adapter: AzureMessagingAdapter, sdk: ServiceBusReceiver, message: ServiceBusReceivedMessage, error: Exception
) -> None:
    """Dead-letter a message that is no CloudEvent; when that fails, it comes back when its lock expires."""
    logger.warning("channel %r: dead-lettering message %s: %s", adapter.name, message.message_id, error)
    try:
        with adapter._errors(f"dead-letter message {message.message_id}"):
            await sdk.dead_letter_message(message, reason=NOT_A_CLOUD_EVENT, error_description=str(error))
        dead_lettered(adapter, "undecodable")
    except ChannelError as failure:
        logger.warning(
            "channel %r: could not dead-letter message %s; it comes back when its lock expires: %s",
            adapter.name,
            message.message_id,
            failure,
        )


class ServiceBusDelivery:
    """One locked delivery; settle it once, before its lock expires."""

    def __init__(self, receiver: Settler, message: ServiceBusReceivedMessage, envelope: CloudEvent) -> None:
        self._receiver = receiver
        self._message = message
        self._envelope = envelope

    @property
    def envelope(self) -> CloudEvent:
        return self._envelope

    @property
    def delivery_count(self) -> int:
        # Service Bus counts earlier deliveries (AMQP's header); an absent header means none.
        return (self._message.delivery_count or 0) + 1

    @property
    def message_id(self) -> str:
        return str(self._message.message_id)

    async def complete(self) -> None:
        await self._receiver.settle(self._message, "complete", lambda sdk: sdk.complete_message(self._message))

    async def abandon(self) -> None:
        await self._receiver.settle(self._message, "abandon", lambda sdk: sdk.abandon_message(self._message))

    async def dead_letter(self, reason: str) -> None:
        await self._receiver.settle(
            self._message, "dead-letter", lambda sdk: sdk.dead_letter_message(self._message, reason=reason)
        )

    def __repr__(self) -> str:
        return f"ServiceBusDelivery(id={self.message_id!r}, delivery_count={self.delivery_count})"


class ServiceBusChannelReceiver(AzureMessagingAdapter):
    """A `ChannelReceiver` over one queue or topic subscription; obtain it from `ServiceBusChannel.receiver()`."""

    messaging_system = "servicebus"
    """`messaging.system` of its spans and metrics (OpenTelemetry messaging conventions)."""

    kind = ChannelKind.TRANSACTIONAL

    def __init__(
        self,
        client: ServiceBusClient,
        entity: str,
        subscription_name: str | None,
        *,
        name: str,
        namespace: str,
        secrets: Iterable[object],
        prefetch_count: int = 0,
        max_lock_renewal: timedelta | None = None,
    ) -> None:
        path = entity if subscription_name is None else f"{entity}/Subscriptions/{subscription_name}"
        self._init_adapter(name, f"{path!r} on {namespace}", secrets)
        self._path = path
        self._opened = False
        self._open_lock = asyncio.Lock()
        self._renewer = (
            AutoLockRenewer(max_lock_renewal_duration=max_lock_renewal.total_seconds())
            if max_lock_renewal is not None
            else None
        )
        if subscription_name is None:
            self._sdk = client.get_queue_receiver(
                entity, prefetch_count=prefetch_count, auto_lock_renewer=self._renewer
            )
        else:
            self._sdk = client.get_subscription_receiver(
                entity, subscription_name, prefetch_count=prefetch_count, auto_lock_renewer=self._renewer
            )

    async def receive(self, max_messages: int = 32, *, wait: timedelta = timedelta(seconds=1)) -> list[ReceivedMessage]:
        """Up to `max_messages` locked messages, waiting at most `wait` for the first.

        Raises:
            ChannelClosedError: the receiver was closed.
            ChannelUnavailableError: the namespace could not be reached (retry later).
            ChannelAccessDeniedError: the credentials were refused.
            ChannelNotFoundError: the queue or subscription does not exist.
        """
        self._ensure_open()
        await self._open()
        with self._errors("receive"):
            received = await self._sdk.receive_messages(
                max_message_count=max_messages, max_wait_time=max(wait.total_seconds(), 0.001)
            )
        deliveries: list[ReceivedMessage] = []
        for message in received:
            try:
                envelope = envelope_of(message)
            except MalformedEnvelopeError as error:
                await self._set_aside(message, error)
                continue
            deliveries.append(ServiceBusDelivery(self, message, envelope))
        return deliveries

    async def _open(self) -> None:
        """Opened on its own, once: the SDK would otherwise spend `wait` on authenticating and attaching."""
        async with self._open_lock:
            if not self._opened:
                with self._errors("open"):
                    await self._sdk.__aenter__()
                self._opened = True

    async def _set_aside(self, message: ServiceBusReceivedMessage, error: MalformedEnvelopeError) -> None:
        await set_aside(self, self._sdk, message, error)

    async def settle(
        self,
        message: ServiceBusReceivedMessage,
        action: str,
        call: Callable[[ServiceBusReceiver], Awaitable[None]],
    ) -> None:
        """Settle a delivery through the SDK receiver; a late or repeated settlement gets its own error."""
        await settle(self, self._sdk, message, action, call)

    async def _close(self) -> None:
        if self._renewer is not None:
            await self._renewer.close()
        await self._sdk.close()

    def __repr__(self) -> str:
        return f"ServiceBusChannelReceiver(name={self._name!r}, entity={self._path!r})"
