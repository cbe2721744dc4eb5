"""Azure Event Hubs channel: durable, partitioned, consumed in batches with a moving cursor.

The partition key is the stream id, so every event of a stream lands in one partition, in order.
Each event's body is the structured CloudEvent (`application/cloudevents+json`), the form Stream
Analytics, Data Explorer and Functions read without a custom deserializer; the id, type, subject
and stream version are repeated as properties for consumers that route before parsing. A batch
carries one partition key, so a call is sent as runs of consecutive same-stream envelopes, in call
order; every envelope is measured before anything is sent.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from messagehandler.channels.azure_messaging import (
    AzureMessagingAdapter,
    amqp_long,
    build_client,
    connection_secrets,
    namespace_of,
)
from messagehandler.channels.envelope import CONTENT_TYPE, CloudEvent
from messagehandler.channels.errors import ChannelConfigurationError, EnvelopeTooLargeError
from messagehandler.channels.protocol import ChannelKind
from messagehandler.extras import requires_extra

with requires_extra("eventhubs", "the Event Hubs channel", ("azure.eventhub",)):
    from azure.eventhub import EventData, EventDataBatch
    from azure.eventhub.aio import EventHubProducerClient

if TYPE_CHECKING:
    from azure.core.credentials import AzureNamedKeyCredential, AzureSasCredential
    from azure.core.credentials_async import AsyncTokenCredential

    EventHubCredential = AsyncTokenCredential | AzureSasCredential | AzureNamedKeyCredential

STANDARD_TIER_MAX_BYTES = 1024 * 1024
PROPERTY_PREFIX = "cloudEvents_"


class EventHubChannel(AzureMessagingAdapter):
    """Publishes envelopes to one event hub, partitioned by stream.

    Build it with `from_connection_string(conn, eventhub_name=...)` (or `EntityPath` in the string)
    or `(fully_qualified_namespace, eventhub_name, credential)`. `max_message_bytes` caps each
    batch (1 MiB, the Standard tier's event size, by default); the hub's own limit, read from the
    link when it opens, applies when it is lower. Extra keyword options go to the SDK's
    `EventHubProducerClient` (for instance `retry_total`).
    """

    messaging_system = "eventhubs"
    """`messaging.system` of its spans and metrics (OpenTelemetry messaging conventions)."""

    def __init__(
        self,
        fully_qualified_namespace: str,
        eventhub_name: str,
        credential: EventHubCredential,
        *,
        name: str | None = None,
        max_message_bytes: int = STANDARD_TIER_MAX_BYTES,
        **client_options: Any,
    ) -> None:
        secrets = (credential,)
        channel = name or eventhub_name
        producer = build_client(
            channel,
            "Event Hubs",
            lambda: EventHubProducerClient(fully_qualified_namespace, eventhub_name, credential, **client_options),
            secrets,
        )
        self._setup(producer, channel, fully_qualified_namespace, max_message_bytes=max_message_bytes, secrets=secrets)

    @classmethod
    def from_connection_string(
        cls,
        connection_string: str,
        *,
        eventhub_name: str | None = None,
        name: str | None = None,
        max_message_bytes: int = STANDARD_TIER_MAX_BYTES,
        **client_options: Any,
    ) -> EventHubChannel:
        secrets = connection_secrets(connection_string)
        producer = build_client(
            name or eventhub_name or "eventhub",
            "Event Hubs",
            lambda: EventHubProducerClient.from_connection_string(
                connection_string, eventhub_name=eventhub_name, **client_options
            ),
            secrets,
        )
        self = cls.__new__(cls)
        channel = name or producer.eventhub_name
        self._setup(
            producer, channel, namespace_of(connection_string), max_message_bytes=max_message_bytes, secrets=secrets
        )
        return self

    def _setup(
        self,
        producer: EventHubProducerClient,
        channel: str,
        namespace: str,
        *,
        max_message_bytes: int,
        secrets: Iterable[object],
    ) -> None:
        if max_message_bytes < 1:
            raise ChannelConfigurationError(f"channel {channel!r}: max_message_bytes must be positive")
        self._init_adapter(channel, f"event hub {producer.eventhub_name!r} on {namespace}", secrets)
        self._producer = producer
        self._namespace = namespace
        self._max_message_bytes = max_message_bytes

    @property
    def kind(self) -> ChannelKind:
        return ChannelKind.STREAMING

    @property
    def eventhub_name(self) -> str:
        return self._producer.eventhub_name

    @property
    def max_message_bytes(self) -> int:
        """The configured cap on an event as encoded in a batch; a lower limit of the hub wins."""
        return self._max_message_bytes

    async def publish(self, envelopes: Sequence[CloudEvent]) -> None:
        """Send every envelope, each stream's in order to its partition.

        Raises:
            EnvelopeTooLargeError: an envelope is over the limit; nothing was sent.
            ChannelUnavailableError: the namespace could not be reached or was busy (retry later).
            ChannelAccessDeniedError: the credentials were refused.
            ChannelClosedError: the channel was closed.
        """
        self._ensure_open()
        if not envelopes:
            return
        events = [to_event_data(envelope) for envelope in envelopes]
        with self._errors("send"):
            limit = min(self._max_message_bytes, (await self._producer.create_batch()).max_size_in_bytes)
            for envelope, event in zip(envelopes, events, strict=True):
                size = encoded_size(event, envelope.stream_id)
                if size > limit:
                    raise EnvelopeTooLargeError(self.name, envelope.id, size, limit)
            for batch in await self._batches(envelopes, events, limit):
                await self._producer.send_batch(batch)

    async def _batches(
        self, envelopes: Sequence[CloudEvent], events: list[EventData], limit: int
    ) -> list[EventDataBatch]:
        batches: list[EventDataBatch] = []
        stream: str | None = None
        for envelope, event in zip(envelopes, events, strict=True):
            if envelope.stream_id != stream:
                stream = envelope.stream_id
                batches.append(await self._producer.create_batch(partition_key=stream, max_size_in_bytes=limit))
            try:
                batches[-1].add(event)
            except ValueError:  # full: the SDK's EventDataBatch raises ValueError
                batches.append(await self._producer.create_batch(partition_key=stream, max_size_in_bytes=limit))
                batches[-1].add(event)
        return batches

    async def _close(self) -> None:
        await self._producer.close()

    def __repr__(self) -> str:
        return f"EventHubChannel(name={self.name!r}, eventhub={self.eventhub_name!r}, namespace={self._namespace!r})"


def to_event_data(envelope: CloudEvent) -> EventData:
    event = EventData(envelope.to_bytes())
    event.content_type = CONTENT_TYPE
    event.message_id = envelope.id
    event.properties = {
        PROPERTY_PREFIX + "id": envelope.id,
        PROPERTY_PREFIX + "type": envelope.type,
        PROPERTY_PREFIX + "subject": envelope.subject,
        PROPERTY_PREFIX + "streamversion": amqp_long(envelope.stream_version),
    }
    return event


def encoded_size(event: EventData, partition_key: str) -> int:
    """The bytes a batch of `event` alone takes, as the SDK counts them against the batch's limit."""
    probe = EventDataBatch(max_size_in_bytes=sys.maxsize, partition_key=partition_key)
    probe.add(event)
    return probe.size_in_bytes
