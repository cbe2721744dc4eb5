"""Azure Storage Queue channel: durable, at-least-once, each message settled on its own.

One envelope is one message (structured CloudEvent JSON, base64 by default; see `QueueEncoding`).
Storage Queues promise no order, so consumers order by the `streamversion` extension and
deduplicate on `id`. What this channel does promise: within one publish call, the envelopes of
one stream are enqueued one after another (the next only after the previous is acknowledged),
while different streams are sent concurrently, up to `max_concurrency` requests at a time.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from messagehandler.channels.envelope import CloudEvent
from messagehandler.channels.errors import ChannelConfigurationError, ChannelError
from messagehandler.channels.lifecycle import Closeable
from messagehandler.channels.limits import encode_within_limit
from messagehandler.channels.protocol import ChannelKind
from messagehandler.channels.transactional.storage_queue_clients import (
    POISON_SUFFIX,
    QueueClients,
    QueueEncoding,
    validate_queue_name,
)
from messagehandler.channels.transactional.storage_queue_receiver import StorageQueueReceiver

if TYPE_CHECKING:
    from azure.storage.queue.aio import QueueClient

    from messagehandler.channels.transactional.storage_queue_clients import QueueCredential


MAX_VISIBILITY_DELAY = 7 * 24 * 3600 - 1
DEFAULT_TIME_TO_LIVE = 7 * 24 * 3600


class StorageQueueChannel(Closeable):
    """Publishes envelopes to one Storage queue; `receiver()` reads them back for a processing host.

    Build it with `from_connection_string(conn, queue_name)` or `(account_url, queue_name, credential)`.
    The queue is created on first use unless `create_queue=False`. Extra keyword options go to
    the SDK's `QueueClient` (for instance `retry_total`).
    """

    messaging_system = "azure.storage.queue"
    """`messaging.system` of its spans and metrics (OpenTelemetry messaging conventions)."""

    def __init__(
        self,
        account_url: str,
        queue_name: str,
        credential: QueueCredential = None,
        *,
        name: str | None = None,
        encoding: QueueEncoding = QueueEncoding.BASE64,
        create_queue: bool = True,
        max_concurrency: int = 16,
        time_to_live: timedelta | None = None,
        **client_options: Any,
    ) -> None:
        channel = name or queue_name
        clients = QueueClients.from_account_url(
            account_url,
            queue_name,
            credential,
            channel=channel,
            encoding=encoding,
            create_queues=create_queue,
            client_options=client_options,
        )
        self._setup(clients, queue_name, max_concurrency=max_concurrency, time_to_live=time_to_live)

    @classmethod
    def from_connection_string(
        cls,
        connection_string: str,
        queue_name: str,
        *,
        name: str | None = None,
        encoding: QueueEncoding = QueueEncoding.BASE64,
        create_queue: bool = True,
        max_concurrency: int = 16,
        time_to_live: timedelta | None = None,
        **client_options: Any,
    ) -> StorageQueueChannel:
        channel = name or queue_name
        clients = QueueClients.from_connection_string(
            connection_string,
            queue_name,
            channel=channel,
            encoding=encoding,
            create_queues=create_queue,
            client_options=client_options,
        )
        self = cls.__new__(cls)
        self._setup(clients, queue_name, max_concurrency=max_concurrency, time_to_live=time_to_live)
        return self

    def _setup(
        self, clients: QueueClients, queue_name: str, *, max_concurrency: int, time_to_live: timedelta | None
    ) -> None:
        validate_queue_name(clients.channel, queue_name)
        validate_queue_name(clients.channel, queue_name + POISON_SUFFIX)
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self._clients = clients
        self._queue_name = queue_name
        self._client: QueueClient = clients.client(queue_name)
        self._slots = asyncio.Semaphore(max_concurrency)
        self._time_to_live = None if time_to_live is None else int(time_to_live.total_seconds())

    @property
    def name(self) -> str:
        return self._clients.channel

    @property
    def kind(self) -> ChannelKind:
        return ChannelKind.TRANSACTIONAL

    @property
    def queue_name(self) -> str:
        return self._queue_name

    @property
    def max_message_bytes(self) -> int:
        """The envelope's UTF-8 JSON, before the encoding that must keep the message text within 64 KiB."""
        return self._clients.encoding.max_envelope_bytes

    async def publish(self, envelopes: Sequence[CloudEvent]) -> None:
        """Send every envelope; each stream's in order.

        Raises:
            EnvelopeTooLargeError: an envelope is over `max_message_bytes`; nothing was sent.
            ChannelUnavailableError: the queue service could not be reached (retry later); some
                envelopes of the call may have been sent, and resending them duplicates them.
            ChannelAccessDeniedError: the credentials were refused.
            ChannelNotFoundError: the queue does not exist and `create_queue=False`.
            ChannelClosedError: the channel was closed.
        """
        self._ensure_open()
        encode_within_limit(self.name, envelopes, self.max_message_bytes, CloudEvent.to_bytes)
        if not envelopes:
            return
        await self._ensure_queue()
        streams: dict[tuple[str, str], list[CloudEvent]] = {}
        for envelope in envelopes:
            streams.setdefault((envelope.stream_type, envelope.stream_id), []).append(envelope)
        try:
            async with asyncio.TaskGroup() as group:
                for stream in streams.values():
                    group.create_task(self._send_in_order(stream))
        except* ChannelError as failures:
            first = failures.exceptions[0]
            raise first from first.__cause__

    async def _send_in_order(self, envelopes: list[CloudEvent]) -> None:
        encoding = self._clients.encoding
        for envelope in envelopes:
            async with self._slots:
                with self._clients.errors(self._queue_name, f"send event {envelope.id}"):
                    await self._client.send_message(encoding.content(envelope), time_to_live=self._time_to_live)

    async def schedule(self, envelopes: Sequence[CloudEvent], at: datetime) -> None:
        """Send envelopes that stay invisible until `at` (a visibility delay): process managers' timeouts.

        Raises:
            ChannelConfigurationError: `at` is more than 7 days ahead, the longest delay a queue allows.
            EnvelopeTooLargeError: an envelope is over `max_message_bytes`; nothing was sent.
            ChannelUnavailableError: the queue service could not be reached (retry later).
        """
        self._ensure_open()
        encode_within_limit(self.name, envelopes, self.max_message_bytes, CloudEvent.to_bytes)
        delay = max(0, math.ceil((at - datetime.now(UTC)).total_seconds()))
        if delay > MAX_VISIBILITY_DELAY:
            raise ChannelConfigurationError(
                f"channel {self.name!r}: cannot schedule {delay} s ahead; a queue hides a message for at most 7 days"
            )
        await self._ensure_queue()
        time_to_live = max(self._time_to_live or DEFAULT_TIME_TO_LIVE, delay + DEFAULT_TIME_TO_LIVE)
        for envelope in envelopes:
            with self._clients.errors(self._queue_name, f"schedule event {envelope.id}"):
                await self._client.send_message(
                    self._clients.encoding.content(envelope), visibility_timeout=delay, time_to_live=time_to_live
                )

    async def _ensure_queue(self) -> None:
        with self._clients.errors(self._queue_name, "create queue"):
            await self._clients.ensure_queue(self._client)

    def receiver(
        self,
        *,
        visibility_timeout: timedelta = timedelta(seconds=30),
        retry_delay: timedelta = timedelta(0),
        max_delivery_count: int = 5,
        poll_interval_max: timedelta = timedelta(seconds=1),
    ) -> StorageQueueReceiver:
        """A receiver of this queue with its own connections (close it on its own).

        `visibility_timeout` is how long a received message stays hidden (its lock); `retry_delay`
        how long an abandoned one stays hidden; a message delivered more than `max_delivery_count`
        times is moved to the `{queue}-poison` queue on receive.
        """
        return StorageQueueReceiver(
            self._clients,
            self._queue_name,
            visibility_timeout=visibility_timeout,
            retry_delay=retry_delay,
            max_delivery_count=max_delivery_count,
            poll_interval_max=poll_interval_max,
        )

    async def _close(self) -> None:
        await self._client.close()

    def __repr__(self) -> str:
        return f"StorageQueueChannel(name={self.name!r}, queue={self._queue_name!r}, account={self._clients.account!r})"
