"""Reading a Service Bus queue or subscription in peek-lock mode, settling each message on its own.

A received message is locked for the entity's lock duration: `complete` removes it, `abandon`
unlocks it for redelivery (its delivery count goes up; past the entity's max delivery count
Service Bus dead-letters it by itself), `dead_letter` moves it to the entity's dead-letter queue
with the reason. A message that is not a CloudEvent is dead-lettered on receive: no handler
could ever process it, and redelivering it would only block the ones behind it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import timedelta
from typing import TYPE_CHECKING, TypeVar

from messagehandler.channels.envelope import CloudEvent
from messagehandler.channels.errors import ChannelError, MessageLockLostError
from messagehandler.channels.protocol import ReceivedMessage
from messagehandler.channels.transactional.servicebus_messages import envelope_of
from messagehandler.errors import SerializationError
from messagehandler.extras import requires_extra
from messagehandler.redaction import describe_error

with requires_extra("servicebus", "the Service Bus channel", ("azure.servicebus",)):
    from azure.core.exceptions import AzureError
    from azure.servicebus import ServiceBusReceivedMessage
    from azure.servicebus.aio import AutoLockRenewer
    from azure.servicebus.exceptions import MessageLockLostError as SdkMessageLockLostError
    from azure.servicebus.exceptions import ServiceBusError

if TYPE_CHECKING:
    from azure.servicebus.aio import ServiceBusClient, ServiceBusReceiver

logger = logging.getLogger(__name__)

T = TypeVar("T")

NOT_A_CLOUD_EVENT = "NotACloudEvent"


class ServiceBusDelivery:
    """One locked delivery; settle it once, before its lock expires."""

    def __init__(
        self, receiver: ServiceBusChannelReceiver, message: ServiceBusReceivedMessage, envelope: CloudEvent
    ) -> None:
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
        await self._receiver._settle(self._message, "complete", lambda sdk: sdk.complete_message(self._message))

    async def abandon(self) -> None:
        await self._receiver._settle(self._message, "abandon", lambda sdk: sdk.abandon_message(self._message))

    async def dead_letter(self, reason: str) -> None:
        await self._receiver._settle(
            self._message, "dead-letter", lambda sdk: sdk.dead_letter_message(self._message, reason=reason)
        )

    def __repr__(self) -> str:
        return f"ServiceBusDelivery(id={self.message_id!r}, delivery_count={self.delivery_count})"


class ServiceBusChannelReceiver:
    """A `ChannelReceiver` over one queue or topic subscription; obtain it from `ServiceBusChannel.receiver()`."""

    def __init__(
        self,
        client: ServiceBusClient,
        entity: str,
        subscription_name: str | None,
        *,
        name: str,
        secrets: Iterable[str],
        prefetch_count: int = 0,
        max_lock_renewal: timedelta | None = None,
    ) -> None:
        self._name = name
        self._path = entity if subscription_name is None else f"{entity}/Subscriptions/{subscription_name}"
        self._secrets = tuple(secrets)
        self._open = False
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

    @property
    def name(self) -> str:
        return self._name

    async def receive(self, max_messages: int = 32, *, wait: timedelta = timedelta(seconds=1)) -> list[ReceivedMessage]:
        if not self._open:
            # Opened on its own: the SDK would otherwise spend `wait` on authenticating and attaching.
            await self._call("open", self._sdk.__aenter__())
            self._open = True
        received = await self._call(
            "receive",
            self._sdk.receive_messages(max_message_count=max_messages, max_wait_time=max(wait.total_seconds(), 0.001)),
        )
        deliveries: list[ReceivedMessage] = []
        for message in received:
            try:
                envelope = envelope_of(message)
            except SerializationError as error:
                logger.warning("channel %r: dead-lettering message %s: %s", self._name, message.message_id, error)
                await self._call(
                    "dead-letter",
                    self._sdk.dead_letter_message(message, reason=NOT_A_CLOUD_EVENT, error_description=str(error)),
                )
                continue
            deliveries.append(ServiceBusDelivery(self, message, envelope))
        return deliveries

    async def _settle(
        self,
        message: ServiceBusReceivedMessage,
        action: str,
        settle: Callable[[ServiceBusReceiver], Awaitable[None]],
    ) -> None:
        try:
            await settle(self._sdk)
        except SdkMessageLockLostError:
            raise MessageLockLostError(self._name, str(message.message_id), action) from None
        except ValueError as error:  # the SDK's answer to a second settlement
            raise ChannelError(
                f"cannot {action} message {message.message_id} on channel {self._name!r}: {error}"
            ) from None
        except (ServiceBusError, AzureError) as error:
            raise self._failure(action, error) from None

    async def _call(self, action: str, operation: Awaitable[T]) -> T:
        try:
            return await operation
        except (ServiceBusError, AzureError) as error:
            raise self._failure(action, error) from None

    def _failure(self, action: str, error: Exception) -> ChannelError:
        return ChannelError(
            f"channel {self._name!r}: {action} on {self._path!r} failed: {describe_error(error, self._secrets)}"
        )

    async def close(self) -> None:
        if self._renewer is not None:
            await self._renewer.close()
        await self._sdk.close()

    def __repr__(self) -> str:
        return f"ServiceBusChannelReceiver(name={self._name!r}, entity={self._path!r})"
