"""Reading a Storage queue with per-message settlement, redelivery and a poison queue.

A received message is hidden for the visibility timeout, which is its lock: `complete` deletes
it, `abandon` makes it visible again after the retry delay, and if the receiver does neither
(it crashed) the message reappears when the timeout ends. Storage has no dead-letter queue, so
this receiver keeps the Azure Functions convention: `{queue}-poison`, holding the message text
unchanged so an operator can move it back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from datetime import timedelta
from typing import TYPE_CHECKING, TypeVar

from messagehandler.channels.envelope import CloudEvent
from messagehandler.channels.errors import ChannelError, MessageLockLostError
from messagehandler.channels.lifecycle import Closeable
from messagehandler.channels.protocol import ReceivedMessage
from messagehandler.channels.transactional.storage_queue_clients import POISON_SUFFIX, QueueClients
from messagehandler.errors import SerializationError
from messagehandler.extras import requires_extra
from messagehandler.redaction import describe_error

with requires_extra("storage-queue", "the Storage Queue channel", ("azure.storage.queue",)):
    from azure.core.exceptions import AzureError, HttpResponseError, ResourceNotFoundError

if TYPE_CHECKING:
    from azure.storage.queue import QueueMessage
    from azure.storage.queue.aio import QueueClient

logger = logging.getLogger(__name__)

T = TypeVar("T")

MAX_MESSAGES_PER_REQUEST = 32
_LOCK_LOST_CODES = frozenset({"PopReceiptMismatch", "MessageNotFound"})


class StorageQueueMessage:
    """One delivery; settle it once, before its visibility timeout ends."""

    def __init__(self, receiver: StorageQueueReceiver, message: QueueMessage, envelope: CloudEvent) -> None:
        self._receiver = receiver
        self._message = message
        self._envelope = envelope
        self._settled = False

    @property
    def envelope(self) -> CloudEvent:
        return self._envelope

    @property
    def delivery_count(self) -> int:
        return int(self._message.dequeue_count or 1)

    @property
    def message_id(self) -> str:
        return str(self._message.id)

    async def complete(self) -> None:
        self._settle("complete")
        await self._receiver._delete(self._message, "complete")

    async def abandon(self) -> None:
        self._settle("abandon")
        await self._receiver._release(self._message)

    async def dead_letter(self, reason: str) -> None:
        self._settle("dead-letter")
        await self._receiver._move_to_poison(self._message, reason)

    def _settle(self, action: str) -> None:
        if self._settled:
            raise ChannelError(
                f"cannot {action} message {self.message_id} on channel {self._receiver.name!r}: already settled"
            )
        self._settled = True

    def __repr__(self) -> str:
        return (
            f"StorageQueueMessage(id={self.message_id!r}, event={self._envelope.id!r}, delivery={self.delivery_count})"
        )


class StorageQueueReceiver(Closeable):
    """`ChannelReceiver` of one Storage queue; build it with `StorageQueueChannel.receiver()`.

    Storage Queues have no long polling: `receive` polls with growing pauses (up to
    `poll_interval_max`) until a message arrives or `wait` runs out.
    """

    def __init__(
        self,
        clients: QueueClients,
        queue_name: str,
        *,
        visibility_timeout: timedelta,
        retry_delay: timedelta,
        max_delivery_count: int,
        poll_interval_max: timedelta,
    ) -> None:
        if visibility_timeout < timedelta(seconds=1):
            raise ValueError("visibility_timeout must be at least one second")
        if max_delivery_count < 1:
            raise ValueError("max_delivery_count must be at least 1")
        self._clients = clients
        self._queue_name = queue_name
        self._client = clients.client(queue_name)
        self._poison: QueueClient | None = None
        self._visibility = int(visibility_timeout.total_seconds())
        self._retry_delay = int(retry_delay.total_seconds())
        self._max_delivery_count = max_delivery_count
        self._poll_max = poll_interval_max.total_seconds()

    @property
    def name(self) -> str:
        return self._clients.channel

    @property
    def poison_queue_name(self) -> str:
        return self._queue_name + POISON_SUFFIX

    async def receive(self, max_messages: int = 32, *, wait: timedelta = timedelta(seconds=1)) -> list[ReceivedMessage]:
        self._ensure_open()
        await self._guard("create queue", self._clients.ensure_queue(self._client))
        deadline = time.monotonic() + wait.total_seconds()
        pause = 0.05
        while True:
            messages = await self._receive_once(max_messages)
            remaining = deadline - time.monotonic()
            if messages or remaining <= 0:
                return messages
            await asyncio.sleep(min(pause, remaining))
            pause = min(pause * 2, self._poll_max)

    async def _receive_once(self, max_messages: int) -> list[ReceivedMessage]:
        pager = self._client.receive_messages(
            max_messages=max_messages,
            messages_per_page=min(max_messages, MAX_MESSAGES_PER_REQUEST),
            visibility_timeout=self._visibility,
        )

        async def collect() -> list[QueueMessage]:
            return [message async for message in pager]

        received: list[ReceivedMessage] = []
        for message in await self._guard("receive", collect()):
            if (message.dequeue_count or 1) > self._max_delivery_count:
                await self._move_to_poison(
                    message, f"delivered {message.dequeue_count} times, over the limit of {self._max_delivery_count}"
                )
                continue
            try:
                envelope = CloudEvent.from_json(message.content)
            except SerializationError as error:
                await self._move_to_poison(message, f"not a CloudEvent envelope: {error}")
                continue
            received.append(StorageQueueMessage(self, message, envelope))
        return received

    async def _delete(self, message: QueueMessage, action: str) -> None:
        await self._settling(message, action, self._client.delete_message(message.id, message.pop_receipt))

    async def _release(self, message: QueueMessage) -> None:
        release = self._client.update_message(message.id, message.pop_receipt, visibility_timeout=self._retry_delay)
        await self._settling(message, "abandon", release)

    async def _settling(self, message: QueueMessage, action: str, operation: Awaitable[object]) -> None:
        try:
            await operation
        except HttpResponseError as error:
            lost = isinstance(error, ResourceNotFoundError) or getattr(error, "error_code", None) in _LOCK_LOST_CODES
            if lost or error.status_code == 404:
                raise MessageLockLostError(self.name, str(message.id), action) from None
            raise self._error(f"{action} message {message.id}", error) from None
        except AzureError as error:
            raise self._error(f"{action} message {message.id}", error) from None

    async def _move_to_poison(self, message: QueueMessage, reason: str) -> None:
        """Copy first, then delete: a failure in between duplicates the message but never loses it."""
        poison = self._poison_client()
        await self._guard("create poison queue", self._clients.ensure_queue(poison))
        await self._guard("copy to poison queue", poison.send_message(message.content))
        logger.warning(
            "channel %r: message %s moved from queue %r to %r: %s",
            self.name,
            message.id,
            self._queue_name,
            self.poison_queue_name,
            reason,
        )
        await self._delete(message, "dead-letter")

    def _poison_client(self) -> QueueClient:
        if self._poison is None:
            self._poison = self._clients.client(self.poison_queue_name)
        return self._poison

    async def _guard(self, action: str, operation: Awaitable[T]) -> T:
        try:
            return await operation
        except AzureError as error:
            raise self._error(action, error) from None

    def _error(self, action: str, error: AzureError) -> ChannelError:
        return ChannelError(
            f"channel {self.name!r}: cannot {action} on queue {self._queue_name!r} at {self._clients.account}: "
            f"{describe_error(error, self._clients.secrets)}"
        )

    async def _close(self) -> None:
        await self._client.close()
        if self._poison is not None:
            await self._poison.close()

    def __repr__(self) -> str:
        return (
            f"StorageQueueReceiver(name={self.name!r}, queue={self._queue_name!r}, account={self._clients.account!r})"
        )
