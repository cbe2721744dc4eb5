"""Reading a Storage queue with per-message settlement, redelivery and a poison queue.

A received message is hidden for the visibility timeout, which is its lock: `complete` deletes
it, `abandon` makes it visible again after the retry delay, and if the receiver does neither
(it crashed) the message reappears when the timeout ends. Storage has no dead-letter queue, so
this receiver keeps the Azure Functions convention: `{queue}-poison`, holding the message text
unchanged so an operator can move it back.

Each message is decoded on its own (base64 or JSON text, then the CloudEvent), never by an SDK
decode policy that fails a whole page for one bad message. A message that cannot be decoded, or
that was delivered more than `max_delivery_count` times, is moved to the poison queue on receive,
and the rest of the batch is returned; if moving it fails, it stays hidden until its visibility
timeout and the move is tried again on its next delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import TYPE_CHECKING

from messagehandler.channels.envelope import CloudEvent
from messagehandler.channels.errors import ChannelError, MalformedEnvelopeError, MessageLockLostError
from messagehandler.channels.lifecycle import Closeable
from messagehandler.channels.protocol import ChannelKind, ReceivedMessage
from messagehandler.channels.transactional.storage_queue_clients import POISON_SUFFIX, QueueClients, message_bytes
from messagehandler.extras import requires_extra
from messagehandler.telemetry.messaging import dead_lettered

with requires_extra("storage-queue", "the Storage Queue channel", ("azure.storage.queue",)):
    from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

if TYPE_CHECKING:
    from azure.storage.queue import QueueMessage
    from azure.storage.queue.aio import QueueClient

logger = logging.getLogger(__name__)

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
        await self._receiver.delete(self._message, "complete")

    async def abandon(self) -> None:
        self._settle("abandon")
        await self._receiver.release(self._message)

    async def dead_letter(self, reason: str) -> None:
        self._settle("dead-letter")
        await self._receiver.move_to_poison(self._message, reason)

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

    messaging_system = "azure.storage.queue"
    """`messaging.system` of its spans and metrics (OpenTelemetry messaging conventions)."""

    kind = ChannelKind.TRANSACTIONAL

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
        """Up to `max_messages` messages, waiting at most `wait` for the first.

        Raises:
            ChannelClosedError: the receiver was closed.
            ChannelUnavailableError: the queue service could not be reached (retry later).
            ChannelAccessDeniedError: the credentials were refused.
            ChannelNotFoundError: the queue does not exist.
        """
        self._ensure_open()
        with self._clients.errors(self._queue_name, "create queue"):
            await self._clients.ensure_queue(self._client)
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
        with self._clients.errors(self._queue_name, "receive"):
            pager = self._client.receive_messages(
                max_messages=max_messages,
                messages_per_page=min(max_messages, MAX_MESSAGES_PER_REQUEST),
                visibility_timeout=self._visibility,
            )
            page = [message async for message in pager]
        received: list[ReceivedMessage] = []
        for message in page:
            if (message.dequeue_count or 1) > self._max_delivery_count:
                reason = f"delivered {message.dequeue_count} times, over the limit of {self._max_delivery_count}"
                await self._set_aside(message, reason, "max_deliveries")
                continue
            try:
                envelope = CloudEvent.from_json(message_bytes(message.content))
            except MalformedEnvelopeError as error:
                await self._set_aside(message, f"not a CloudEvent envelope: {error}", "undecodable")
                continue
            received.append(StorageQueueMessage(self, message, envelope))
        return received

    async def _set_aside(self, message: QueueMessage, reason: str, kind: str) -> None:
        """Move a message that will never be handled to the poison queue, without failing its batch."""
        try:
            await self.move_to_poison(message, reason)
            dead_lettered(self, kind)
        except ChannelError as error:
            logger.warning(
                "channel %r: could not move message %s to %r (%s); it stays hidden until its visibility "
                "timeout and the move is tried again on its next delivery: %s",
                self.name,
                message.id,
                self.poison_queue_name,
                reason,
                error,
            )

    async def delete(self, message: QueueMessage, action: str) -> None:
        """Delete a received message (`action` names why, for errors): its settlement as complete."""
        with self._settling(message, action):
            await self._client.delete_message(message.id, message.pop_receipt)

    async def release(self, message: QueueMessage) -> None:
        """Make a received message visible again after the retry delay."""
        with self._settling(message, "abandon"):
            await self._client.update_message(message.id, message.pop_receipt, visibility_timeout=self._retry_delay)

    @contextlib.contextmanager
    def _settling(self, message: QueueMessage, action: str) -> Iterator[None]:
        """A lost lock (the message was deleted, or received again) becomes `MessageLockLostError`."""
        with self._clients.errors(self._queue_name, f"{action} message {message.id}"):
            try:
                yield
            except HttpResponseError as error:
                lost = (
                    isinstance(error, ResourceNotFoundError) or getattr(error, "error_code", None) in _LOCK_LOST_CODES
                )
                if lost or error.status_code == 404:
                    raise MessageLockLostError(self.name, str(message.id), action) from None
                raise

    async def move_to_poison(self, message: QueueMessage, reason: str) -> None:
        """Copy first, then delete: a failure in between duplicates the message but never loses it."""
        poison = self._poison_client()
        with self._clients.errors(self.poison_queue_name, "create poison queue"):
            await self._clients.ensure_queue(poison)
        with self._clients.errors(self.poison_queue_name, "copy to poison queue"):
            await poison.send_message(message.content)
        logger.warning(
            "channel %r: message %s moved from queue %r to %r: %s",
            self.name,
            message.id,
            self._queue_name,
            self.poison_queue_name,
            reason,
        )
        await self.delete(message, "dead-letter")

    def _poison_client(self) -> QueueClient:
        if self._poison is None:
            self._poison = self._clients.client(self.poison_queue_name)
        return self._poison

    async def _close(self) -> None:
        await self._client.close()
        if self._poison is not None:
            await self._poison.close()

    def __repr__(self) -> str:
        return (
            f"StorageQueueReceiver(name={self.name!r}, queue={self._queue_name!r}, account={self._clients.account!r})"
        )
