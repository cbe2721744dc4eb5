"""Several receivers of one Service Bus entity: competing consumers, and sessions that keep each stream on one
receiver at a time, in order, with their locks renewed; on a queue and on a topic's subscription alike. The AMQP test broker serves sessions as Service Bus
does for the SDK: the `com.microsoft:session-filter` source filter, `locked-until-utc`, and the
`com.microsoft:renew-session-lock` management operation."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from azure.servicebus import ServiceBusMessage
from azure.servicebus.aio import ServiceBusClient

from messagehandler.channels import ReceivedMessage
from messagehandler.channels.transactional.servicebus import ServiceBusChannel
from messagehandler.channels.transactional.servicebus_receiver import ServiceBusChannelReceiver
from messagehandler.channels.transactional.servicebus_sessions import ServiceBusSessionReceiver
from tests.channels.servicebus.conftest import QUEUE
from tests.channels.support import envelopes, interleaved
from tests.support.amqp_broker import AmqpTestBroker

FAST = timedelta(milliseconds=300)


@dataclass(frozen=True)
class Entity:
    """Where the receivers read: the queue, or one subscription of a topic."""

    options: dict[str, str]
    subscription: str | None
    address: str


@pytest.fixture(params=["queue", "subscription"])
def entity(request: pytest.FixtureRequest, broker: AmqpTestBroker) -> Entity:
    if request.param == "queue":
        return Entity({"queue_name": QUEUE}, None, QUEUE)
    return Entity({"topic_name": "events"}, "shipping", broker.add_subscription("events", "shipping"))


SOON = timedelta(seconds=5)
"""How long to wait for a message that should come: the first receive of a session receiver authenticates first."""


async def test_two_receivers_of_one_entity_share_its_messages_each_message_going_to_one(
    broker: AmqpTestBroker, make_channel: Callable[..., ServiceBusChannel], entity: Entity
) -> None:
    sent = interleaved(*(envelopes(f"o-{n}", 5) for n in range(4)))
    await make_channel(**entity.options).publish(sent)
    receivers = [make_channel(**entity.options).receiver(entity.subscription) for _ in range(2)]
    assert all(isinstance(receiver, ServiceBusChannelReceiver) for receiver in receivers)
    got: list[list[ReceivedMessage]] = [[], []]

    async def consume(index: int) -> None:
        while sum(map(len, got)) < len(sent):
            batch = await receivers[index].receive(3, wait=FAST)
            got[index] += batch
            for message in batch:
                await message.complete()
            await asyncio.sleep(0)

    await asyncio.wait_for(asyncio.gather(consume(0), consume(1)), 30)

    ids = [message.envelope.id for batch in got for message in batch]
    assert sorted(ids) == sorted(envelope.id for envelope in sent)
    assert len(set(ids)) == len(ids), "no message went to both"
    assert all(got), "both receivers had a share"
    assert broker.queued(entity.address) == []
    for receiver in receivers:
        await receiver.close()


async def session_receiver(
    channel: ServiceBusChannel, subscription: str | None = None, **options: Any
) -> ServiceBusSessionReceiver:
    receiver = channel.receiver(subscription, **options)
    assert isinstance(receiver, ServiceBusSessionReceiver)
    return receiver


async def test_a_session_receiver_holds_a_stream_alone_and_hands_it_out_in_order_one_at_a_time(
    broker: AmqpTestBroker, make_channel: Callable[..., ServiceBusChannel], entity: Entity
) -> None:
    first, second = envelopes("o-1", 3), envelopes("o-2", 3)
    await make_channel(sessions=True, **entity.options).publish(interleaved(first, second))
    one = await session_receiver(make_channel(sessions=True, **entity.options), entity.subscription, max_sessions=1)
    two = await session_receiver(make_channel(sessions=True, **entity.options), entity.subscription, max_sessions=1)

    (a,) = await one.receive(10, wait=SOON)
    (b,) = await two.receive(10, wait=SOON)
    assert {one.sessions[0], two.sessions[0]} == {"o-1", "o-2"}
    assert await one.receive(10, wait=FAST) == [], "the next of a stream waits for the last to be settled"

    streams: dict[str, list[str]] = {}
    for receiver, message in ((one, a), (two, b)):
        while message is not None:
            streams.setdefault(message.envelope.stream_id, []).append(message.envelope.id)
            assert message.envelope.stream_id == receiver.sessions[0], "a receiver only sees its own stream"
            await message.complete()
            batch = await receiver.receive(10, wait=SOON if len(streams[message.envelope.stream_id]) < 3 else FAST)
            message = batch[0] if batch else None

    assert streams == {"o-1": [e.id for e in first], "o-2": [e.id for e in second]}
    await one.close()
    await two.close()


async def test_an_abandoned_message_of_a_session_comes_back_before_the_ones_behind_it(
    broker: AmqpTestBroker, make_channel: Callable[..., ServiceBusChannel]
) -> None:
    sent = envelopes("o-1", 3)
    await make_channel(sessions=True).publish(sent)
    receiver = await session_receiver(make_channel(sessions=True))

    (first,) = await receiver.receive(10, wait=SOON)
    await first.abandon()
    (again,) = await receiver.receive(10, wait=SOON)
    await again.complete()
    (second,) = await receiver.receive(10, wait=SOON)

    assert [first.envelope.id, again.envelope.id, second.envelope.id] == [sent[0].id, sent[0].id, sent[1].id]
    assert (first.delivery_count, again.delivery_count) == (1, 2)
    await receiver.close()


@pytest.mark.parametrize("broker_options", [{"session_lock_ms": 1500}])
async def test_a_held_session_lock_is_renewed_and_an_idle_session_released_to_another_receiver(
    broker: AmqpTestBroker, make_channel: Callable[..., ServiceBusChannel]
) -> None:
    sent = envelopes("o-1", 2)
    await make_channel(sessions=True).publish(sent)
    holder = await session_receiver(make_channel(sessions=True), session_idle=timedelta(seconds=4))
    other = await session_receiver(make_channel(sessions=True))
    (message,) = await holder.receive(10, wait=SOON)

    await asyncio.sleep(3)  # twice the lock: only renewals keep the session with its holder
    assert await other.receive(10, wait=FAST) == []
    assert "o-1" in broker.session_renewals
    await message.complete()
    (last,) = await holder.receive(10, wait=SOON)  # the second message, still on the holder
    assert last.envelope.id == sent[1].id
    await last.complete()

    for _ in range(40):  # idle for session_idle: released, and the other receiver may take it
        await holder.receive(10, wait=FAST)
        if not holder.sessions:
            break
    assert holder.sessions == []
    await holder.close()
    await other.close()


async def test_a_message_of_a_session_that_is_no_cloud_event_is_dead_lettered_and_the_stream_goes_on(
    broker: AmqpTestBroker, make_channel: Callable[..., ServiceBusChannel]
) -> None:
    async with (
        ServiceBusClient.from_connection_string(broker.connection_string(), retry_total=0) as client,
        client.get_queue_sender(QUEUE) as sender,
    ):
        await sender.send_messages(ServiceBusMessage(b"not an event", message_id="stray", session_id="o-1"))
    sent = envelopes("o-1", 1)
    await make_channel(sessions=True).publish(sent)
    receiver = await session_receiver(make_channel(sessions=True))

    received: list[ReceivedMessage] = []
    for _ in range(5):
        received += await receiver.receive(10, wait=SOON)
        if received:
            break

    assert [message.envelope.id for message in received] == [sent[0].id]
    assert [(s.message_id, s.outcome) for s in broker.settlements()] == [("stray", "rejected")]
    await receiver.close()
