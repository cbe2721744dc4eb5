"""The Event Hubs receiver through the real consumer client: the AMQP test broker serves the hub,
Azurite's blob service keeps the checkpoints (the real BlobCheckpointStore)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
from azure.eventhub.extensions.checkpointstoreblobaio import BlobCheckpointStore

from messagehandler.channels import ChannelKind, CloudEvent, ReceivedMessage
from messagehandler.channels.errors import ChannelConfigurationError, ChannelError
from messagehandler.channels.streaming.eventhubs import EventHubChannel
from messagehandler.channels.streaming.eventhubs_receiver import EventHubDelivery, EventHubReceiver
from messagehandler.processing import ActionableContext, ProcessingHost, channel_source
from samples.processing.transformation import EventSummary, SummaryQuery
from tests.channels.eventhubs.conftest import HUB
from tests.channels.malformed import malformed_bodies
from tests.channels.support import SERIALIZER, envelopes
from tests.processing.fakes import eventually
from tests.support.amqp_broker import AmqpTestBroker, running_broker

if TYPE_CHECKING:
    from messagehandler.testing.azurite import AzuriteProcess

pytestmark = pytest.mark.azurite

MakeReceiver = Callable[..., EventHubReceiver]
FAST = timedelta(milliseconds=50)


@pytest.fixture
def broker_options() -> dict[str, Any]:
    return {"event_hubs": {HUB: 2}}


@pytest.fixture
async def checkpoint_store(azurite: AzuriteProcess) -> AsyncIterator[BlobCheckpointStore]:
    from azure.eventhub.extensions.checkpointstoreblobaio._vendor.storage.blob.aio import ContainerClient

    container = f"checkpoints-{uuid.uuid4().hex[:12]}"
    async with ContainerClient.from_connection_string(azurite.connection_string, container) as client:
        await client.create_container()
    async with BlobCheckpointStore.from_connection_string(azurite.connection_string, container) as store:
        yield store


@pytest.fixture
async def make_receiver(broker: AmqpTestBroker, checkpoint_store: BlobCheckpointStore) -> AsyncIterator[MakeReceiver]:
    receivers: list[EventHubReceiver] = []

    def make(**options: Any) -> EventHubReceiver:
        options.setdefault("eventhub_name", HUB)
        options.setdefault("checkpoint_store", checkpoint_store)
        options.setdefault("retry_total", 0)
        receiver = EventHubReceiver.from_connection_string(broker.connection_string(), **options)
        receivers.append(receiver)
        return receiver

    yield make
    await asyncio.gather(*(receiver.close() for receiver in receivers))


async def publish(broker: AmqpTestBroker, sent: list[CloudEvent]) -> None:
    async with EventHubChannel.from_connection_string(
        broker.connection_string(), eventhub_name=HUB, retry_total=0
    ) as channel:
        await channel.publish(sent)


async def receive_exactly(receiver: EventHubReceiver, count: int, *, within: float = 10.0) -> list[ReceivedMessage]:
    """Keep receiving until `count` messages arrived; fail on more, or on fewer by the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    received: list[ReceivedMessage] = []
    while len(received) < count:
        assert loop.time() < deadline, f"received {len(received)} of {count} messages"
        received += await receiver.receive(count - len(received), wait=timedelta(milliseconds=200))
    assert len(received) == count
    return received


def ids(messages: list[ReceivedMessage]) -> list[str]:
    return [message.envelope.id for message in messages]


def by_partition(messages: list[ReceivedMessage]) -> dict[str, list[EventHubDelivery]]:
    partitions: dict[str, list[EventHubDelivery]] = {}
    for message in messages:
        assert isinstance(message, EventHubDelivery)
        partitions.setdefault(message.partition_id, []).append(message)
    return partitions


async def test_events_arrive_as_sent_each_partition_in_stream_order(
    broker: AmqpTestBroker, make_receiver: MakeReceiver
) -> None:
    first, second = envelopes("o-1", 4), envelopes("o-2", 4)
    await publish(broker, [*first, *second])
    receiver = make_receiver()

    received = await receive_exactly(receiver, 8)

    assert sorted(ids(received)) == sorted(e.id for e in [*first, *second])
    assert {m.envelope for m in received} == {*first, *second}
    for stream in (first, second):
        assert [m.envelope.id for m in received if m.envelope.stream_id == stream[0].stream_id] == [
            e.id for e in stream
        ]
    partitions = by_partition(received)
    for messages in partitions.values():
        sequence = [m.sequence_number for m in messages]
        assert sequence == sorted(sequence)
    assert {m.delivery_count for m in received} == {1}
    assert receiver.kind is ChannelKind.STREAMING
    assert {link.partition_id for link in broker.consumer_links()} == {"0", "1"}


async def test_a_completed_batch_is_checkpointed_and_a_new_receiver_resumes_after_it(
    broker: AmqpTestBroker, make_receiver: MakeReceiver, checkpoint_store: BlobCheckpointStore
) -> None:
    sent = envelopes("o-1", 5)
    await publish(broker, sent)
    receiver = make_receiver()
    batch = await receive_exactly(receiver, 3)
    assert ids(batch) == [e.id for e in sent[:3]]
    partition = by_partition(batch)
    [partition_id] = partition

    for message in batch[:2]:
        await message.complete()
    assert await checkpoint_store.list_checkpoints(broker_namespace(broker), HUB, "$Default") == [], (
        "checkpointed before the whole batch was completed"
    )
    await batch[2].complete()

    [checkpoint] = await checkpoint_store.list_checkpoints(broker_namespace(broker), HUB, "$Default")
    assert checkpoint["partition_id"] == partition_id
    assert checkpoint["sequence_number"] == partition[partition_id][-1].sequence_number
    await receiver.close()

    attached_before = len(broker.consumer_links())
    resumed = make_receiver()
    assert ids(await receive_exactly(resumed, 2)) == [e.id for e in sent[3:]]
    [last] = [link for link in broker.consumer_links()[attached_before:] if link.partition_id == partition_id]
    assert last.selector == f"amqp.annotation.x-opt-offset > '{checkpoint['offset']}'"


async def test_an_abandoned_batch_comes_back_whole_and_nothing_moves(
    broker: AmqpTestBroker, make_receiver: MakeReceiver, checkpoint_store: BlobCheckpointStore
) -> None:
    sent = envelopes("o-1", 6)
    await publish(broker, sent)
    receiver = make_receiver()
    good = await receive_exactly(receiver, 2)
    for message in good:
        await message.complete()
    failed = await receive_exactly(receiver, 2)
    later = await receive_exactly(receiver, 2)

    await failed[1].complete()
    await failed[0].abandon()
    for message in [*failed, *later]:
        await message.abandon()  # the host abandons every batch after the failed one; only the first rewinds
    await later[0].complete()  # settlements of a rewound delivery are ignored

    again = await receive_exactly(receiver, 4)
    assert ids(again) == [e.id for e in sent[2:]]
    assert [m.delivery_count for m in again] == [2, 2, 2, 2]
    [checkpoint] = await checkpoint_store.list_checkpoints(broker_namespace(broker), HUB, "$Default")
    assert checkpoint["sequence_number"] == by_partition(good)[checkpoint["partition_id"]][-1].sequence_number
    assert await receiver.receive(10, wait=FAST) == []


async def test_dead_lettering_skips_the_event_and_moves_on(
    broker: AmqpTestBroker, make_receiver: MakeReceiver, checkpoint_store: BlobCheckpointStore, caplog: Any
) -> None:
    sent = envelopes("o-1", 2)
    await publish(broker, sent)
    receiver = make_receiver()
    first, second = await receive_exactly(receiver, 2)

    await first.dead_letter("poison")
    await second.complete()

    assert sent[0].id in caplog.text
    assert "poison" in caplog.text
    [checkpoint] = await checkpoint_store.list_checkpoints(broker_namespace(broker), HUB, "$Default")
    assert checkpoint["sequence_number"] == by_partition([second])[checkpoint["partition_id"]][0].sequence_number


async def test_the_host_retries_a_failed_batch_whole_and_checkpoints_nothing_early(
    broker: AmqpTestBroker, make_receiver: MakeReceiver, checkpoint_store: BlobCheckpointStore
) -> None:
    sent = envelopes("o-1", 4)
    await publish(broker, sent)
    seen: dict[str, list[int]] = {}
    checkpoints_while_failing: list[Any] = []

    async def flaky(outcome: ActionableContext[EventSummary]) -> None:
        [context] = outcome.contexts
        seen.setdefault(context.message_id, []).append(context.delivery_count)
        if context.message_id == sent[1].id and context.delivery_count == 1:
            checkpoints_while_failing.extend(
                await checkpoint_store.list_checkpoints(broker_namespace(broker), HUB, "$Default")
            )
            raise RuntimeError("fails on first delivery")

    source = channel_source(make_receiver(), ChannelKind.STREAMING, batch_size=4, wait=FAST)
    async with ProcessingHost(source, SERIALIZER).add(SummaryQuery(), flaky) as host:
        await eventually(lambda: host.stats.completed == 4, within=15, what="the retried batch completed")
        await asyncio.wait_for(host.idle(), 5)
        [checkpoint] = await checkpoint_store.list_checkpoints(broker_namespace(broker), HUB, "$Default")

    assert checkpoints_while_failing == [], "checkpointed while a batch was failing"
    assert seen[sent[0].id] == [1, 2], "the good message before the failed one was not retried with its batch"
    assert seen[sent[1].id] == [1, 2]
    assert list(seen) == [e.id for e in sent]
    assert host.stats.abandoned >= 2
    assert checkpoint["sequence_number"] == 3


def broker_namespace(broker: AmqpTestBroker) -> str:
    """The namespace the SDK files checkpoints under: the endpoint's host and port."""
    return f"127.0.0.1:{broker.port}"


KEY = "ZXZlbnQtaHViLWtleS10aGF0LW11c3Qtbm90LWxlYWs="


async def test_a_refused_token_is_logged_without_the_key(
    checkpoint_store: BlobCheckpointStore, caplog: pytest.LogCaptureFixture
) -> None:
    with running_broker(token_status=401, event_hubs={HUB: 1}) as broker:
        receiver = EventHubReceiver.from_connection_string(
            broker.connection_string(key=KEY), eventhub_name=HUB, checkpoint_store=checkpoint_store, retry_total=0
        )
        mine = "messagehandler.channels.streaming.eventhubs_receiver"
        try:
            deadline = asyncio.get_running_loop().time() + 10
            while not [r for r in caplog.records if r.name == mine]:
                assert asyncio.get_running_loop().time() < deadline, "the refused token was not reported"
                assert await receiver.receive(1, wait=FAST) == []
        finally:
            await receiver.close()

    logged = "\n".join(r.getMessage() for r in caplog.records if r.name == mine)
    assert HUB in logged
    assert "load balancing" in logged
    assert KEY not in logged
    assert KEY not in repr(receiver)


def test_a_connection_string_without_a_hub_is_a_configuration_error_without_the_key(
    checkpoint_store: BlobCheckpointStore,
) -> None:
    conn = f"Endpoint=sb://example.servicebus.windows.net/;SharedAccessKeyName=p;SharedAccessKey={KEY}"
    with pytest.raises(ChannelConfigurationError) as raised:
        EventHubReceiver.from_connection_string(conn, checkpoint_store=checkpoint_store)

    assert KEY not in str(raised.value)


class FailingOnce(BlobCheckpointStore):
    failed = False

    async def update_checkpoint(self, checkpoint: dict[str, Any], **kwargs: Any) -> None:
        if not self.failed:
            self.failed = True
            raise OSError("storage unavailable")
        await super().update_checkpoint(checkpoint, **kwargs)


async def test_a_failed_checkpoint_write_hands_the_batch_out_again(
    broker: AmqpTestBroker, make_receiver: MakeReceiver, azurite: AzuriteProcess, checkpoint_store: BlobCheckpointStore
) -> None:
    sent = envelopes("o-1", 2)
    await publish(broker, sent)
    container = checkpoint_store._container_client.container_name
    async with FailingOnce.from_connection_string(azurite.connection_string, container) as failing:
        receiver = make_receiver(checkpoint_store=failing)
        batch = await receive_exactly(receiver, 2)
        await batch[0].complete()
        with pytest.raises(ChannelError, match="checkpoint of partition"):
            await batch[1].complete()

        again = await receive_exactly(receiver, 2)
        assert [(m.envelope.id, m.delivery_count) for m in again] == [(e.id, 2) for e in sent]
        for message in again:
            await message.complete()
        [checkpoint] = await failing.list_checkpoints(broker_namespace(broker), HUB, "$Default")
        assert checkpoint["sequence_number"] == by_partition(again)[checkpoint["partition_id"]][-1].sequence_number
        await receiver.close()


async def test_a_receiver_for_one_partition_reads_only_that_partition(
    broker: AmqpTestBroker, make_receiver: MakeReceiver
) -> None:
    streams = [envelopes(f"o-{n}", 1) for n in range(6)]
    await publish(broker, [e for stream in streams for e in stream])
    everything = by_partition(await receive_exactly(make_receiver(), 6))
    assert set(everything) == {"0", "1"}, "the test needs events in both partitions"

    only = await receive_exactly(make_receiver(partition_id="1", consumer_group="audit"), len(everything["1"]))

    assert ids(only) == [m.envelope.id for m in everything["1"]]
    assert {(link.consumer_group, link.partition_id) for link in broker.consumer_links()[2:]} == {("audit", "1")}


async def test_events_sent_after_a_batch_was_handed_out_arrive_before_that_batch_is_settled(
    broker: AmqpTestBroker, make_receiver: MakeReceiver, checkpoint_store: BlobCheckpointStore
) -> None:
    first, second = envelopes("o-1", 3), envelopes("o-1", 3, start=4)
    await publish(broker, first)
    receiver = make_receiver()
    handed_out = await receive_exactly(receiver, 3)

    await publish(broker, second)
    later = await receive_exactly(receiver, 3)

    assert ids(later) == [e.id for e in second]
    for message in [*handed_out, *later]:
        await message.complete()
    [checkpoint] = await checkpoint_store.list_checkpoints(broker_namespace(broker), HUB, "$Default")
    assert checkpoint["sequence_number"] == by_partition(later)[checkpoint["partition_id"]][-1].sequence_number


async def send_bodies(broker: AmqpTestBroker, bodies: list[bytes], partition_key: str) -> None:
    from azure.eventhub import EventData
    from azure.eventhub.aio import EventHubProducerClient

    async with EventHubProducerClient.from_connection_string(
        broker.connection_string(), eventhub_name=HUB, retry_total=0
    ) as producer:
        batch = await producer.create_batch(partition_key=partition_key)
        for body in bodies:
            batch.add(EventData(body))
        await producer.send_batch(batch)


async def test_events_that_cannot_be_decoded_are_skipped_and_the_checkpoint_moves_past_them(
    broker: AmqpTestBroker, make_receiver: MakeReceiver, checkpoint_store: BlobCheckpointStore, caplog: Any
) -> None:
    sent = envelopes("o-1", 2)
    bad = list(malformed_bodies(sent[0]).values())
    await send_bodies(broker, [sent[0].to_bytes(), *bad, sent[1].to_bytes()], "o-1")
    receiver = make_receiver()

    received = await receive_exactly(receiver, 2)
    for message in received:
        await message.complete()

    assert ids(received) == [e.id for e in sent]
    assert caplog.text.count("not a CloudEvent") == len(bad)
    [checkpoint] = await checkpoint_store.list_checkpoints(broker_namespace(broker), HUB, "$Default")
    assert checkpoint["sequence_number"] == by_partition(received)[checkpoint["partition_id"]][-1].sequence_number
    assert await receiver.receive(10, wait=FAST) == []


async def test_a_batch_of_skipped_events_is_checkpointed_and_a_failed_checkpoint_is_retried(
    broker: AmqpTestBroker, make_receiver: MakeReceiver, azurite: AzuriteProcess, checkpoint_store: BlobCheckpointStore
) -> None:
    await send_bodies(broker, [b"not an event", b"[1]"], "o-1")
    container = checkpoint_store._container_client.container_name
    async with FailingOnce.from_connection_string(azurite.connection_string, container) as failing:
        receiver = make_receiver(checkpoint_store=failing)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while not await failing.list_checkpoints(broker_namespace(broker), HUB, "$Default"):
            assert loop.time() < deadline, "the skipped events were never checkpointed"
            assert await receiver.receive(10, wait=FAST) == []
        [checkpoint] = await failing.list_checkpoints(broker_namespace(broker), HUB, "$Default")
        await receiver.close()

    assert failing.failed, "the first checkpoint write did not fail, so its retry was not tested"
    assert checkpoint["sequence_number"] == 1
