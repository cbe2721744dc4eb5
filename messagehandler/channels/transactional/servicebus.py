"""Azure Service Bus channel (queue or topic): durable, ordered per session, deduplicated by event id.

Each envelope is one message in CloudEvents binary mode (see `servicebus_messages`). Messages go
out in batches built by the SDK, so a batch never exceeds what the entity accepts; a call's
envelopes are measured before anything is sent, so an oversize one fails the whole call and the
outbox keeps every event of it. With `sessions=True` the session id is the stream id: a session
receiver then gets each stream in order, one stream at a time per receiver.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from messagehandler.channels.azure_messaging import (
    AzureMessagingAdapter,
    build_client,
    connection_secrets,
    connection_settings,
)
from messagehandler.channels.envelope import CloudEvent
from messagehandler.channels.errors import ChannelConfigurationError, EnvelopeTooLargeError
from messagehandler.channels.protocol import ChannelKind
from messagehandler.channels.transactional.servicebus_messages import to_message
from messagehandler.channels.transactional.servicebus_receiver import ServiceBusChannelReceiver
from messagehandler.channels.transactional.servicebus_sessions import ServiceBusSessionReceiver
from messagehandler.extras import requires_extra

with requires_extra("servicebus", "the Service Bus channel", ("azure.servicebus",)):
    from azure.servicebus import ServiceBusMessage, ServiceBusMessageBatch
    from azure.servicebus.aio import ServiceBusClient, ServiceBusSender
    from azure.servicebus.exceptions import MessageSizeExceededError

if TYPE_CHECKING:
    from azure.core.credentials import AzureNamedKeyCredential, AzureSasCredential
    from azure.core.credentials_async import AsyncTokenCredential

    ServiceBusCredential = AsyncTokenCredential | AzureSasCredential | AzureNamedKeyCredential

STANDARD_TIER_MAX_BYTES = 256 * 1024
EntityKind = Literal["queue", "topic"]


class ServiceBusChannel(AzureMessagingAdapter):
    """Publishes envelopes to one queue or topic; `receiver()` reads a queue or a subscription back.

    Build it with `from_connection_string(conn, queue_name=... | topic_name=...)` or
    `(fully_qualified_namespace, entity, credential, topic=...)`. `max_message_bytes` caps each
    batch (256 KiB, the Standard tier's message size, by default); the entity's own limit, read
    from the link when it opens, applies when it is lower. Extra keyword options go to the SDK's
    `ServiceBusClient` (for instance `retry_total`).
    """

    messaging_system = "servicebus"
    """`messaging.system` of its spans and metrics (OpenTelemetry messaging conventions)."""

    def __init__(
        self,
        fully_qualified_namespace: str,
        entity: str,
        credential: ServiceBusCredential,
        *,
        topic: bool = False,
        name: str | None = None,
        sessions: bool = False,
        max_message_bytes: int = STANDARD_TIER_MAX_BYTES,
        **client_options: Any,
    ) -> None:
        channel = name or entity
        secrets = (credential,)
        client = build_client(
            channel,
            "Service Bus",
            lambda: ServiceBusClient(fully_qualified_namespace, credential, **client_options),
            secrets,
        )
        self._setup(
            client,
            channel,
            entity,
            "topic" if topic else "queue",
            sessions=sessions,
            max_message_bytes=max_message_bytes,
            secrets=secrets,
        )

    @classmethod
    def from_connection_string(
        cls,
        connection_string: str,
        *,
        queue_name: str | None = None,
        topic_name: str | None = None,
        name: str | None = None,
        sessions: bool = False,
        max_message_bytes: int = STANDARD_TIER_MAX_BYTES,
        **client_options: Any,
    ) -> ServiceBusChannel:
        """`EntityPath` in the connection string names a queue unless `topic_name` says otherwise."""
        secrets = connection_secrets(connection_string)
        if queue_name and topic_name:
            raise ChannelConfigurationError("a Service Bus channel sends to a queue or a topic, not both")
        entity = queue_name or topic_name or connection_settings(connection_string).get("entitypath")
        if not entity:
            raise ChannelConfigurationError(
                f"channel {name!r}: name the Service Bus queue or topic (queue_name=, topic_name= or EntityPath)"
            )
        channel = name or entity
        client = build_client(
            channel,
            "Service Bus",
            lambda: ServiceBusClient.from_connection_string(connection_string, **client_options),
            secrets,
        )
        self = cls.__new__(cls)
        self._setup(
            client,
            channel,
            entity,
            "topic" if topic_name else "queue",
            sessions=sessions,
            max_message_bytes=max_message_bytes,
            secrets=secrets,
        )
        return self

    def _setup(
        self,
        client: ServiceBusClient,
        channel: str,
        entity: str,
        entity_kind: EntityKind,
        *,
        sessions: bool,
        max_message_bytes: int,
        secrets: Iterable[object],
    ) -> None:
        if max_message_bytes < 1:
            raise ChannelConfigurationError(f"channel {channel!r}: max_message_bytes must be positive")
        self._init_adapter(channel, f"{entity_kind} {entity!r} on {client.fully_qualified_namespace}", secrets)
        self._client = client
        self._entity = entity
        self._entity_kind = entity_kind
        self._sessions = sessions
        self._max_message_bytes = max_message_bytes
        self._sender: ServiceBusSender | None = None
        self._sender_lock = asyncio.Lock()

    @property
    def kind(self) -> ChannelKind:
        return ChannelKind.TRANSACTIONAL

    @property
    def entity(self) -> str:
        return self._entity

    @property
    def max_message_bytes(self) -> int:
        """The configured cap on a message as encoded in a batch; a lower limit of the entity wins."""
        return self._max_message_bytes

    async def publish(self, envelopes: Sequence[CloudEvent]) -> None:
        """Send every envelope in order, in as few batches as fit.

        Raises:
            EnvelopeTooLargeError: an envelope is over the limit; nothing was sent.
            ChannelUnavailableError: the namespace could not be reached or was busy (retry later).
            ChannelAccessDeniedError: the credentials were refused.
            ChannelNotFoundError: the queue or topic does not exist.
            ChannelClosedError: the channel was closed.
        """
        self._ensure_open()
        if not envelopes:
            return
        messages = [to_message(envelope, sessions=self._sessions) for envelope in envelopes]
        with self._errors("send"):
            sender = await self._open_sender()
            limit = min(self._max_message_bytes, (await sender.create_message_batch()).max_size_in_bytes)
            for envelope, message in zip(envelopes, messages, strict=True):
                size = encoded_size(message)
                if size > limit:
                    raise EnvelopeTooLargeError(self.name, envelope.id, size, limit)
            for batch in await self._batches(sender, messages, limit):
                await sender.send_messages(batch)

    async def schedule(self, envelopes: Sequence[CloudEvent], at: datetime) -> None:
        """Send envelopes that Service Bus enqueues at `at` (scheduled enqueue): process managers' timeouts.

        Raises:
            ChannelUnavailableError: the namespace could not be reached or was busy (retry later).
            ChannelAccessDeniedError: the credentials were refused.
            ChannelNotFoundError: the queue or topic does not exist.
        """
        self._ensure_open()
        if not envelopes:
            return
        messages = [to_message(envelope, sessions=self._sessions) for envelope in envelopes]
        with self._errors("schedule"):
            sender = await self._open_sender()
            await sender.schedule_messages(messages, at)

    async def _batches(
        self, sender: ServiceBusSender, messages: list[ServiceBusMessage], limit: int
    ) -> list[ServiceBusMessageBatch]:
        """Consecutive runs of messages, each run one batch; a new session starts a new batch."""
        batches = [await sender.create_message_batch(limit)]
        session = messages[0].session_id
        for message in messages:
            if message.session_id != session:
                batches.append(await sender.create_message_batch(limit))
                session = message.session_id
            try:
                batches[-1].add_message(message)
            except MessageSizeExceededError:
                batches.append(await sender.create_message_batch(limit))
                batches[-1].add_message(message)
        return batches

    async def _open_sender(self) -> ServiceBusSender:
        """The sender, its link opened once: concurrent first publishes would otherwise each open it."""
        async with self._sender_lock:
            if self._sender is None:
                if self._entity_kind == "topic":
                    sender = self._client.get_topic_sender(self._entity)
                else:
                    sender = self._client.get_queue_sender(self._entity)
                try:
                    await sender.__aenter__()
                except BaseException:
                    await sender.close()
                    raise
                self._sender = sender
            return self._sender

    def receiver(
        self,
        subscription_name: str | None = None,
        *,
        prefetch_count: int = 0,
        max_lock_renewal: timedelta | None = None,
        max_sessions: int = 8,
        session_idle: timedelta = timedelta(seconds=5),
    ) -> ServiceBusChannelReceiver | ServiceBusSessionReceiver:
        """A peek-lock receiver of the queue, or of one subscription of the topic.

        Sharing the channel's connection, it is closed with the channel (or on its own before).
        `max_lock_renewal` keeps renewing the locks of received messages for that long. Several
        receivers (in several workers) of one entity are competing consumers: each message goes to
        one of them. On a channel built with `sessions=True` the receiver is a session receiver
        (`servicebus_sessions`): it holds up to `max_sessions` streams at a time, each one on one
        worker only, and releases a session idle for `session_idle`.
        """
        if (self._entity_kind == "topic") != (subscription_name is not None):
            raise ChannelConfigurationError(
                f"channel {self.name!r}: a topic is read through a subscription, a queue without one"
            )
        where = (self._client, self._entity, subscription_name)
        common: dict[str, Any] = {
            "name": self.name,
            "namespace": self._client.fully_qualified_namespace,
            "secrets": self._secret_sources,
        }
        if self._sessions:
            renewal = max_lock_renewal or timedelta(minutes=5)
            return ServiceBusSessionReceiver(
                *where, **common, max_sessions=max_sessions, session_idle=session_idle, max_lock_renewal=renewal
            )
        return ServiceBusChannelReceiver(
            *where, **common, prefetch_count=prefetch_count, max_lock_renewal=max_lock_renewal
        )

    async def _close(self) -> None:
        if self._sender is not None:
            await self._sender.close()
        await self._client.close()

    def __repr__(self) -> str:
        return (
            f"ServiceBusChannel(name={self.name!r}, {self._entity_kind}={self._entity!r}, "
            f"namespace={self._client.fully_qualified_namespace!r}, sessions={self._sessions})"
        )


def encoded_size(message: ServiceBusMessage) -> int:
    """The bytes `message` takes in a batch, as the SDK counts them against the batch's limit."""
    probe = ServiceBusMessageBatch(max_size_in_bytes=sys.maxsize)
    probe.add_message(message)
    return probe.size_in_bytes
