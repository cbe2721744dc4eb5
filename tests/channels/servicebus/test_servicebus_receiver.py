"""Receiving and settling through the Service Bus channel's receiver, with the broker keeping score."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import pytest
from azure.servicebus import ServiceBusMessage
from azure.servicebus.aio import ServiceBusClient

from messagehandler.channels import ChannelKind, ChannelReceiver, ReceivedMessage
from messagehandler.channels.errors import ChannelClosedError, ChannelConfigurationError
from messagehandler.channels.transactional.servicebus import ServiceBusChannel
from messagehandler.channels.transactional.servicebus_messages import to_message
from messagehandler.channels.transactional.servicebus_receiver import NOT_A_CLOUD_EVENT, ServiceBusChannelReceiver
from tests.channels.malformed import malformed_bodies
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


async def test_a_failed_dead_lettering_is_logged_and_the_rest_of_the_batch_is_handed_out(
    broker: AmqpTestBroker,
    channel: ServiceBusChannel,
    receiver: ServiceBusChannelReceiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await send_raw(broker, ServiceBusMessage(b"not an event", message_id="stray"))
    sent = envelopes("o-1", 2)
    await channel.publish(sent)
    broker.refuse_settlements("rejected", times=1)

    received = await receive_exactly(receiver, 2)

    assert [message.envelope for message in received] == sent
    assert (broker.settlements()[0].message_id, broker.settlements()[0].outcome) == ("stray", "refused")
    assert "could not dead-letter message stray; it comes back when its lock expires" in caplog.text
    assert await receiver.receive(1, wait=timedelta(milliseconds=500)) == []
    broker.wait_until(lambda: [m.id for m in broker.queued(DEAD_LETTER_QUEUE)] == ["stray"])
    assert [(s.message_id, s.outcome) for s in broker.settlements()] == [("stray", "refused"), ("stray", "rejected")]


async def test_a_topic_channel_reads_through_a_subscription_only(
    make_channel: Callable[..., ServiceBusChannel],
) -> None:
    topic = make_channel(topic_name="events")
    queue = make_channel()

    with pytest.raises(ChannelConfigurationError, match="subscription"):
        topic.receiver()
    with pytest.raises(ChannelConfigurationError, match="subscription"):
        queue.receiver("billing")


async def send_raw(broker: AmqpTestBroker, *messages: ServiceBusMessage) -> None:
    async with (
        ServiceBusClient.from_connection_string(broker.connection_string(), retry_total=0) as client,
        client.get_queue_sender(QUEUE) as sender,
    ):
        for message in messages:
            await sender.send_messages(message)


@pytest.mark.parametrize("name", sorted(malformed_bodies(envelopes("template", 1)[0])))
async def test_a_structured_message_that_cannot_be_decoded_is_dead_lettered_and_the_rest_arrive(
    broker: AmqpTestBroker, channel: ServiceBusChannel, receiver: ServiceBusChannelReceiver, name: str
) -> None:
    before, after = envelopes("o-1", 2), envelopes("o-1", 2, start=3)
    body = malformed_bodies(before[0])[name]
    await channel.publish(before)
    await send_raw(broker, ServiceBusMessage(body, message_id="bad", content_type="application/cloudevents+json"))
    await channel.publish(after)

    received = await receive_exactly(receiver, 4)

    assert [m.envelope for m in received] == [*before, *after]
    broker.wait_until(lambda: any(s.message_id == "bad" for s in broker.settlements()))
    (bad,) = [s for s in broker.settlements() if s.message_id == "bad"]
    assert bad.outcome == "rejected"
    assert bad.info is not None
    assert bad.info["DeadLetterReason"] == NOT_A_CLOUD_EVENT


@pytest.mark.parametrize(
    ("change", "value"),
    [
        ("cloudEvents_specversion", "0.3"),
        ("cloudEvents_streamversion", 1.5),
        ("cloudEvents_time", "yesterday"),
        ("cloudEvents_id", None),
    ],
)
async def test_a_binary_message_with_a_bad_attribute_is_dead_lettered(
    broker: AmqpTestBroker, receiver: ServiceBusChannelReceiver, change: str, value: object
) -> None:
    good, bad = (to_message(envelope, sessions=False) for envelope in envelopes("o-1", 2))
    properties = dict(bad.application_properties or {})
    if value is None:
        del properties[change]
    else:
        properties[change] = value  # type: ignore[assignment]
    bad.application_properties = properties  # type: ignore[assignment]
    await send_raw(broker, bad, good)

    (received,) = await receive_exactly(receiver, 1)

    assert received.envelope.id == good.message_id
    broker.wait_until(lambda: len(broker.settlements()) == 1)
    assert [(s.message_id, s.outcome) for s in broker.settlements()] == [(bad.message_id, "rejected")]


async def test_a_native_amqp_timestamp_and_the_colon_prefix_are_read(
    broker: AmqpTestBroker, receiver: ServiceBusChannelReceiver
) -> None:
    sent = envelopes("o-1", 1)[0]
    message = to_message(sent, sessions=False)
    properties: dict[Any, Any] = {
        name.replace("cloudEvents_", "cloudEvents:"): value
        for name, value in (message.application_properties or {}).items()
    }
    properties["cloudEvents:time"] = sent.time  # the SDK sends a datetime as an AMQP timestamp
    properties["cloudEvents:streamversion"] = str(sent.stream_version)  # the canonical string form
    message.application_properties = properties
    await send_raw(broker, message)

    (received,) = await receive_exactly(receiver, 1)

    assert received.envelope.time == sent.time.replace(microsecond=sent.time.microsecond // 1000 * 1000)
    assert received.envelope.stream_version == sent.stream_version
    assert received.envelope.id == sent.id


@pytest.mark.parametrize(
    "content_type", ["Application/CloudEvents+JSON; charset=UTF-8", "APPLICATION/CLOUDEVENTS+JSON"]
)
async def test_structured_mode_is_detected_whatever_the_case_of_the_content_type(
    broker: AmqpTestBroker, receiver: ServiceBusChannelReceiver, content_type: str
) -> None:
    sent = envelopes("o-1", 1)[0]
    await send_raw(broker, ServiceBusMessage(sent.to_bytes(), content_type=content_type))

    (received,) = await receive_exactly(receiver, 1)

    assert received.envelope == sent


async def test_a_closed_receiver_refuses_to_receive_and_closing_twice_is_harmless(
    channel: ServiceBusChannel,
) -> None:
    receiver = channel.receiver()
    assert await receiver.receive(1, wait=timedelta(milliseconds=50)) == []

    await receiver.close()
    await receiver.close()

    with pytest.raises(ChannelClosedError, match="closed"):
        await receiver.receive(1)


def test_the_receiver_says_its_kind(channel: ServiceBusChannel) -> None:
    from messagehandler.processing import channel_source

    assert channel_source(channel.receiver()).kind is ChannelKind.TRANSACTIONAL
