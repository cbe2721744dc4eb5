"""Receiving and settling through the Service Bus channel's receiver, with the broker keeping score."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import pytest
from azure.servicebus import ServiceBusMessage
from azure.servicebus.aio import ServiceBusClient

from messagehandler.channels import ChannelReceiver, ReceivedMessage
from messagehandler.channels.errors import ChannelConfigurationError
from messagehandler.channels.transactional.servicebus import ServiceBusChannel
from messagehandler.channels.transactional.servicebus_receiver import NOT_A_CLOUD_EVENT, ServiceBusChannelReceiver
from tests.channels.servicebus.conftest import QUEUE
from tests.channels.support import envelopes
from tests.support.amqp_broker import AmqpTestBroker

DEAD_LETTER_QUEUE = f"{QUEUE}/$deadletterqueue"


@pytest.fixture
async def channel(make_channel: Callable[..., ServiceBusChannel]) -> ServiceBusChannel:
    return make_channel()


@pytest.fixture
async def receiver(channel: ServiceBusChannel) -> AsyncIterator[ServiceBusChannelReceiver]:
    receiver = channel.receiver()
    yield receiver
    await receiver.close()


async def receive_exactly(receiver: ChannelReceiver, count: int) -> list[ReceivedMessage]:
    received: list[ReceivedMessage] = []
    for _ in range(5):
        received += await receiver.receive(count - len(received), wait=timedelta(seconds=2))
        if len(received) >= count:
            break
    assert len(received) == count
    return received


async def test_received_envelopes_equal_the_published_ones_and_complete_removes_them(
    broker: AmqpTestBroker, channel: ServiceBusChannel, receiver: ServiceBusChannelReceiver
) -> None:
    sent = envelopes("o-1", 3)
    await channel.publish(sent)

    received = await receive_exactly(receiver, 3)
    assert isinstance(receiver, ChannelReceiver)
    assert [message.envelope for message in received] == sent
    assert [message.delivery_count for message in received] == [1, 1, 1]
    for message in received:
        await message.complete()

    assert [s.outcome for s in broker.settlements()] == ["accepted"] * 3
    assert broker.queued(QUEUE) == []


async def test_an_abandoned_message_is_delivered_again_with_its_count_raised(
    broker: AmqpTestBroker, channel: ServiceBusChannel, receiver: ServiceBusChannelReceiver
) -> None:
    sent = envelopes("o-1", 1)
    await channel.publish(sent)
    (first,) = await receive_exactly(receiver, 1)

    await first.abandon()
    (again,) = await receive_exactly(receiver, 1)

    assert again.envelope == sent[0]
    assert (first.delivery_count, again.delivery_count) == (1, 2)
    assert [s.outcome for s in broker.settlements()] == ["modified"]


async def test_a_dead_lettered_message_moves_aside_with_its_reason(
    broker: AmqpTestBroker, channel: ServiceBusChannel, receiver: ServiceBusChannelReceiver
) -> None:
    sent = envelopes("o-1", 1)
    await channel.publish(sent)
    (message,) = await receive_exactly(receiver, 1)

    await message.dead_letter("handler rejected the event")

    (settlement,) = broker.settlements()
    assert (settlement.outcome, settlement.condition) == ("rejected", "com.microsoft:dead-letter")
    assert settlement.info is not None
    assert settlement.info["DeadLetterReason"] == "handler rejected the event"
    assert [m.id for m in broker.queued(DEAD_LETTER_QUEUE)] == [sent[0].id]
    assert await receiver.receive(1, wait=timedelta(milliseconds=300)) == []


async def test_a_message_that_is_no_cloud_event_is_dead_lettered_on_receive(
    broker: AmqpTestBroker, channel: ServiceBusChannel, receiver: ServiceBusChannelReceiver
) -> None:
    async with (
        ServiceBusClient.from_connection_string(broker.connection_string()) as client,
        client.get_queue_sender(QUEUE) as sender,
    ):
        await sender.send_messages(ServiceBusMessage(b"not an event", message_id="stray"))
    sent = envelopes("o-1", 1)
    await channel.publish(sent)

    received = await receive_exactly(receiver, 1)

    assert [message.envelope for message in received] == sent
    broker.wait_until(lambda: len(broker.settlements()) == 1)
    (settlement,) = broker.settlements()
    assert (settlement.message_id, settlement.outcome) == ("stray", "rejected")
    assert settlement.info is not None
    assert settlement.info["DeadLetterReason"] == NOT_A_CLOUD_EVENT


async def test_a_topic_channel_reads_through_a_subscription_only(
    make_channel: Callable[..., ServiceBusChannel],
) -> None:
    topic = make_channel(topic_name="events")
    queue = make_channel()

    with pytest.raises(ChannelConfigurationError, match="subscription"):
        topic.receiver()
    with pytest.raises(ChannelConfigurationError, match="subscription"):
        queue.receiver("billing")
