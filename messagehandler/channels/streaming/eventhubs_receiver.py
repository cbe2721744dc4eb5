"""Reading an event hub as a streaming source: settled per batch by moving a checkpoint per partition.

The SDK's `EventHubConsumerClient.receive_batch` runs in a background task: it claims partitions
through the checkpoint store (so several receivers of one consumer group share the partitions),
starts each partition after its stored checkpoint, and calls back with a batch per partition. The
callback appends that batch to the partition's backlog here and returns at once, unless the backlog
of events not yet checkpointed has reached `max_batch_size`: then it waits until enough of them are
checkpointed. So a partition holds at most about two SDK batches in memory, a failed batch can be
handed out again without reading it back from the service, and a batch the SDK delivered in pieces
(it calls back with whatever its prefetch buffer holds) never waits for an earlier piece to be
settled before it can be received.

`receive()` hands out what the backlogs hold. Completing, in order, every message of a partition's
share of one `receive()` moves that partition's checkpoint to its last message: the checkpoint only
ever moves to the end of a whole received batch. `abandon()` rewinds the partition to its
checkpoint: everything handed out after it is forgotten (its settlements are ignored) and delivered
again, whole, with `delivery_count` one higher. Event Hubs cannot move an event aside:
`dead_letter()` logs the event id and the reason and then counts as `complete()`, and an event that
is not a CloudEvent is logged and skipped the same way, since redelivering either would stop its
partition for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from messagehandler.azure_errors import RedactedCauseError
from messagehandler.channels.azure_messaging import (
    AzureMessagingAdapter,
    build_client,
    connection_secrets,
    namespace_of,
)
from messagehandler.channels.envelope import CloudEvent
from messagehandler.channels.errors import ChannelConfigurationError, ChannelError, MalformedEnvelopeError
from messagehandler.channels.protocol import ChannelKind, ReceivedMessage
from messagehandler.extras import requires_extra
from messagehandler.redaction import describe_error
from messagehandler.telemetry.logs import log_fields
from messagehandler.telemetry.messaging import dead_lettered

with requires_extra("eventhubs", "the Event Hubs channel", ("azure.eventhub",)):
    from azure.eventhub import CloseReason, EventData, LoadBalancingStrategy
    from azure.eventhub.aio import CheckpointStore, EventHubConsumerClient, PartitionContext

if TYPE_CHECKING:
    from messagehandler.channels.streaming.eventhubs import EventHubCredential

logger = logging.getLogger(__name__)

DEFAULT_CONSUMER_GROUP = "$Default"


class EventHubDelivery:
    """One event of a partition's backlog, as handed out by one `receive()`."""

    __slots__ = ("_delivery_count", "_generation", "_partition", "_position", "envelope", "sequence_number")

    def __init__(
        self,
        partition: _Partition,
        generation: int,
        position: int,
        envelope: CloudEvent,
        delivery_count: int,
        sequence_number: int,
    ) -> None:
        self._partition = partition
        self._generation = generation
        self._position = position
        self._delivery_count = delivery_count
        self.envelope = envelope
        self.sequence_number = sequence_number

    @property
    def delivery_count(self) -> int:
        return self._delivery_count

    @property
    def partition_id(self) -> str:
        return self._partition.context.partition_id

    async def complete(self) -> None:
        await self._partition.complete(self._generation, self._position)

    async def abandon(self) -> None:
        self._partition.rewind(self._generation)

    async def dead_letter(self, reason: str) -> None:
        """Event Hubs has no dead-letter queue: the event is logged and passed, so its partition moves on."""
        logger.error(
            "event hub %s partition %s: no dead-letter queue; skipping event %s: %s",
            self._partition.receiver.name,
            self.partition_id,
            self.envelope.id,
            reason,
            extra=log_fields(envelope=self.envelope),
        )
        await self.complete()

    def __repr__(self) -> str:
        return f"EventHubDelivery(id={self.envelope.id!r}, partition={self.partition_id!r}, delivery_count={self.delivery_count})"


class _Partition:
    """A partition's backlog: events the SDK handed over and not yet checkpointed, and how far they went.

    Positions are absolute (`base` is the position of `events[0]`), so deliveries stay valid while
    checkpointed events are dropped from the front. `generation` changes on a rewind or a close, which
    voids the deliveries handed out before it.
    """

    def __init__(self, receiver: EventHubReceiver, context: PartitionContext, limit: int) -> None:
        self.receiver = receiver
        self.context = context
        self.limit = limit
        self.generation = 0
        self.base = 0
        self.events: list[EventData] = []
        self.envelopes: list[CloudEvent | None] = []
        self.completed: list[bool] = []
        self.handed_out = 0
        self.checkpointed = 0
        self.boundaries: set[int] = set()
        self.deliveries: dict[int, int] = {}
        self.room = asyncio.Event()
        self.room.set()
        self.lock = asyncio.Lock()

    def park(self, events: list[EventData]) -> None:
        envelopes = [self.receiver._envelope_of(self.context.partition_id, event) for event in events]
        self.events += events
        self.envelopes += envelopes
        self.completed += [envelope is None for envelope in envelopes]
        self._update_room()

    def _update_room(self) -> None:
        if len(self.events) - self.checkpointed >= self.limit:
            self.room.clear()
        else:
            self.room.set()

    @property
    def waiting(self) -> int:
        return len(self.events) - self.handed_out

    def take(self, limit: int) -> tuple[list[ReceivedMessage], bool]:
        """Hand out up to `limit` events; True when skipped events may have let the checkpoint move."""
        start = self.handed_out
        end = min(len(self.events), start + limit)
        taken: list[ReceivedMessage] = []
        skipped = False
        for index in range(start, end):
            envelope = self.envelopes[index]
            if envelope is None:
                skipped = True
                continue
            sequence = int(self.events[index].sequence_number or 0)
            count = self.deliveries.get(sequence, 0) + 1
            self.deliveries[sequence] = count
            taken.append(EventHubDelivery(self, self.generation, self.base + index, envelope, count, sequence))
        self.handed_out = end
        self.boundaries.add(end)
        return taken, skipped

    async def complete(self, generation: int, position: int) -> None:
        index = position - self.base
        if generation != self.generation or index < 0:
            return
        self.completed[index] = True
        await self.advance()

    async def advance(self) -> None:
        """Move the checkpoint to the last boundary that every event before it reached completed."""
        async with self.lock:
            done = self.checkpointed
            while done < self.handed_out and self.completed[done]:
                done += 1
            reached = max((boundary for boundary in self.boundaries if self.checkpointed < boundary <= done), default=0)
            if not reached:
                return
            generation = self.generation
            try:
                await self.context.update_checkpoint(self.events[reached - 1])
            except Exception as error:
                # Nothing would complete these events again: hand them out again instead of stalling.
                self.rewind(generation)
                receiver = self.receiver
                failure = receiver._failure(f"checkpoint of partition {self.context.partition_id}", error)
                raise failure from RedactedCauseError(error, receiver._secrets)
            if generation != self.generation:
                return
            last = int(self.events[reached - 1].sequence_number or 0)
            self.deliveries = {seq: count for seq, count in self.deliveries.items() if seq > last}
            self._drop(reached)

    def _drop(self, count: int) -> None:
        """Forget the first `count` events: they are checkpointed."""
        del self.events[:count], self.envelopes[:count], self.completed[:count]
        self.base += count
        self.handed_out -= count
        self.checkpointed = 0
        self.boundaries = {boundary - count for boundary in self.boundaries if boundary > count}
        self._update_room()

    def rewind(self, generation: int) -> None:
        if generation != self.generation or self.handed_out == self.checkpointed:
            return
        self.generation += 1
        for index in range(self.checkpointed, len(self.events)):
            self.completed[index] = self.envelopes[index] is None
        self.handed_out = self.checkpointed
        self.boundaries = {boundary for boundary in self.boundaries if boundary <= self.checkpointed}
        self.receiver._wake()

    def close(self) -> None:
        self.generation += 1
        self.events, self.envelopes, self.completed = [], [], []
        self.handed_out = self.checkpointed = 0
        self.boundaries = set()
        self.room.set()


class EventHubReceiver(AzureMessagingAdapter):
    """A `ChannelReceiver` over one consumer group of an event hub, resuming from a checkpoint store.

    Build it with `from_connection_string(conn, eventhub_name=..., checkpoint_store=...)` or
    `(fully_qualified_namespace, eventhub_name, credential, checkpoint_store=...)`. The store is
    any `azure.eventhub.aio.CheckpointStore`: in production the `BlobCheckpointStore` of
    `azure-eventhub-checkpointstoreblob-aio` (part of the `eventhubs` extra) on a container that
    exists. Without `partition_id` the receivers of one consumer group balance the partitions
    between them through the store's ownership records; with it, this receiver reads only that
    partition. A partition without a checkpoint starts at `starting_position` (the SDK's values:
    `"-1"` for the beginning, `"@latest"`, a sequence number or a datetime). `max_batch_size` is
    the most events the SDK hands over per partition at a time, and how many events of a partition
    may wait unsettled before the SDK is held back. Extra keyword options go to the SDK's
    `EventHubConsumerClient` (for instance `retry_total`).
    """

    messaging_system = "eventhubs"
    """`messaging.system` of its spans and metrics (OpenTelemetry messaging conventions)."""

    kind = ChannelKind.STREAMING

    def __init__(
        self,
        fully_qualified_namespace: str,
        eventhub_name: str,
        credential: EventHubCredential,
        *,
        checkpoint_store: CheckpointStore,
        consumer_group: str = DEFAULT_CONSUMER_GROUP,
        name: str | None = None,
        partition_id: str | None = None,
        starting_position: Any = "-1",
        max_batch_size: int = 300,
        load_balancing_interval: timedelta = timedelta(seconds=10),
        **client_options: Any,
    ) -> None:
        self._open(
            lambda **options: EventHubConsumerClient(
                fully_qualified_namespace, eventhub_name, consumer_group, credential, **options
            ),
            name or eventhub_name,
            fully_qualified_namespace,
            (credential,),
            consumer_group,
            checkpoint_store,
            (partition_id, starting_position, max_batch_size, load_balancing_interval),
            client_options,
        )

    @classmethod
    def from_connection_string(
        cls,
        connection_string: str,
        *,
        checkpoint_store: CheckpointStore,
        eventhub_name: str | None = None,
        consumer_group: str = DEFAULT_CONSUMER_GROUP,
        name: str | None = None,
        partition_id: str | None = None,
        starting_position: Any = "-1",
        max_batch_size: int = 300,
        load_balancing_interval: timedelta = timedelta(seconds=10),
        **client_options: Any,
    ) -> EventHubReceiver:
        self = cls.__new__(cls)
        self._open(
            lambda **options: EventHubConsumerClient.from_connection_string(
                connection_string, consumer_group, eventhub_name=eventhub_name, **options
            ),
            name or eventhub_name,
            namespace_of(connection_string),
            connection_secrets(connection_string),
            consumer_group,
            checkpoint_store,
            (partition_id, starting_position, max_batch_size, load_balancing_interval),
            client_options,
        )
        return self

    def _open(
        self,
        build: Callable[..., EventHubConsumerClient],
        name: str | None,
        namespace: str,
        secrets: Iterable[object],
        consumer_group: str,
        checkpoint_store: CheckpointStore,
        settings: tuple[str | None, Any, int, timedelta],
        client_options: dict[str, Any],
    ) -> None:
        partition_id, starting_position, max_batch_size, load_balancing_interval = settings
        label = name or "eventhub"
        if max_batch_size < 1:
            raise ChannelConfigurationError(f"channel {label!r}: max_batch_size must be positive")
        # Greedy: a restarted receiver takes back every free partition at once, not one per interval.
        client_options.setdefault("load_balancing_strategy", LoadBalancingStrategy.GREEDY)
        self._sdk = build_client(
            label,
            "Event Hubs",
            lambda: build(
                checkpoint_store=checkpoint_store,
                load_balancing_interval=load_balancing_interval.total_seconds(),
                **client_options,
            ),
            secrets,
        )
        self._init_adapter(
            name or self._sdk.eventhub_name, f"event hub {self._sdk.eventhub_name!r} on {namespace}", secrets
        )
        self._namespace = namespace
        self._consumer_group = consumer_group
        self._partition_id = partition_id
        self._starting_position = starting_position
        self._max_batch_size = max_batch_size
        self._partitions: dict[str, _Partition] = {}
        self._reading: set[str] = set()
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._turn = itertools.count()

    @property
    def reading(self) -> frozenset[str]:
        """The partitions this receiver reads now: claimed and opened, and not yet closed or lost.

        Right after another receiver claims a partition, the one that held it may still read it until
        its next balancing round; Event Hubs is at least once, and this shows when a handover is done.
        """
        return frozenset(self._reading)

    @property
    def eventhub_name(self) -> str:
        return self._sdk.eventhub_name

    async def receive(self, max_messages: int = 32, *, wait: timedelta = timedelta(seconds=1)) -> list[ReceivedMessage]:
        """Up to `max_messages` events, each partition's in order, waiting at most `wait` for the first.

        Raises:
            ChannelClosedError: the receiver was closed.
            ChannelError: the SDK's receiving task stopped (a `ChannelUnavailableError` when the
                namespace could not be reached); the next call starts it again.
        """
        self._ensure_open()
        self._start()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(wait.total_seconds(), 0.0)
        while True:
            messages = await self._take(max_messages)
            if messages:
                return messages
            self._raise_if_stopped()
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            self._ready.clear()
            if any(partition.waiting for partition in self._partitions.values()):
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), remaining)

    async def _take(self, max_messages: int) -> list[ReceivedMessage]:
        """Up to `max_messages` parked events, each partition's in order, starting at a rotating partition."""
        partitions = [partition for partition in self._partitions.values() if partition.waiting]
        if not partitions:
            return []
        first = next(self._turn) % len(partitions)
        messages: list[ReceivedMessage] = []
        for partition in partitions[first:] + partitions[:first]:
            if len(messages) >= max_messages:
                break
            taken, skipped = partition.take(max_messages - len(messages))
            if skipped:
                try:
                    await partition.advance()
                except ChannelError as error:
                    logger.warning("%s", error)  # the partition rewound itself; its events come again
                    continue
            messages += taken
        return messages

    def _start(self) -> None:
        if self._task is None:
            options: dict[str, Any] = {
                "max_batch_size": self._max_batch_size,
                "starting_position": self._starting_position,
                "on_error": self._on_error,
                "on_partition_initialize": self._on_partition_initialize,
                "on_partition_close": self._on_partition_close,
            }
            if self._partition_id is not None:
                options["partition_id"] = self._partition_id
            self._task = asyncio.get_running_loop().create_task(
                self._sdk.receive_batch(self._on_batch, **options), name=f"eventhub-receive-{self._name}"
            )

    def _raise_if_stopped(self) -> None:
        task = self._task
        if task is None or not task.done() or task.cancelled():
            return
        error = task.exception()
        self._task = None
        if error is not None:
            raise self._failure("receive", error)

    async def _on_batch(self, context: PartitionContext, events: list[EventData]) -> None:
        if not events:
            return
        partition = self._partitions.get(context.partition_id)
        if partition is None or partition.context is not context:
            partition = self._partitions[context.partition_id] = _Partition(self, context, self._max_batch_size)
        partition.park(events)
        self._wake()
        await partition.room.wait()

    async def _on_partition_initialize(self, context: PartitionContext) -> None:
        self._reading.add(context.partition_id)

    async def _on_partition_close(self, context: PartitionContext, reason: CloseReason) -> None:
        self._reading.discard(context.partition_id)
        partition = self._partitions.pop(context.partition_id, None)
        if partition is not None:
            partition.close()
        if reason is CloseReason.OWNERSHIP_LOST:
            logger.info("channel %r: partition %s went to another receiver", self._name, context.partition_id)

    async def _on_error(self, context: PartitionContext | None, error: Exception) -> None:
        where = f"partition {context.partition_id}" if context is not None else "load balancing"
        logger.warning("channel %r: %s: %s", self._name, where, describe_error(error, self._secrets))

    def _wake(self) -> None:
        self._ready.set()

    def _envelope_of(self, partition_id: str, event: EventData) -> CloudEvent | None:
        try:
            return CloudEvent.from_json(event.body_as_str(encoding="utf-8"))
        except (MalformedEnvelopeError, ValueError, TypeError) as error:
            logger.error(
                "channel %r: skipping event %s (sequence %s) of partition %s, not a CloudEvent: %s",
                self._name,
                event.message_id,
                event.sequence_number,
                partition_id,
                error,
            )
            dead_lettered(self, "undecodable")
            return None

    async def _close(self) -> None:
        """Stop receiving and release the partitions; unsettled events are read again by the next owner."""
        for partition in self._partitions.values():
            partition.close()
        await self._sdk.close()
        if self._task is not None:
            # The stopped processor would only notice at the end of its load-balancing sleep.
            self._task.cancel()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await self._task

    def __repr__(self) -> str:
        return (
            f"EventHubReceiver(name={self._name!r}, eventhub={self.eventhub_name!r}, "
            f"namespace={self._namespace!r}, consumer_group={self._consumer_group!r})"
        )
