"""Timeouts travel as scheduled messages: a Storage Queue visibility delay on Azurite, Service Bus scheduled
enqueue on the AMQP test broker. A process manager hosted on the queue cancels an unpaid order when its
timeout arrives, not before."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.queue.aio import QueueClient

from messagehandler import EventTypeRegistry, InMemoryEventSource, JsonEventSerializer
from messagehandler.channels import CloudEvent
from messagehandler.channels.errors import ChannelConfigurationError
from messagehandler.channels.transactional.servicebus import ServiceBusChannel
from messagehandler.channels.transactional.storage_queue import StorageQueueChannel
from messagehandler.processing import ProcessingHost, channel_source, transform
from messagehandler.processmanagers import ProcessManagerAction
from messagehandler.testing import recorded
from messagehandler.testing.envelopes import envelopes
from tests.processing.fakes import eventually
from tests.processmanagers.fulfilment import PAYMENT_WINDOW, CancelOrder, Fulfilment, OrderPlaced, ReserveStock
from tests.processmanagers.test_process_manager import Commands
from tests.support.amqp_broker import AmqpTestBroker
from tests.support.amqp_broker.fixtures import broker, broker_options

if TYPE_CHECKING:
    from messagehandler.testing.azurite import AzuriteProcess

__all__ = ["broker", "broker_options"]


class Events:
    name = "events"

    def build(self, stream):  # type: ignore[no-untyped-def]
        return stream.pipe(transform(lambda context: context.message))


@pytest.fixture
async def queue(azurite: AzuriteProcess) -> AsyncIterator[StorageQueueChannel]:
    name = f"orders-{uuid.uuid4().hex[:10]}"
    async with StorageQueueChannel.from_connection_string(azurite.connection_string, name) as channel:
        yield channel
    async with QueueClient.from_connection_string(azurite.connection_string, name) as client:
        with contextlib.suppress(ResourceNotFoundError):
            await client.delete_queue()


@pytest.mark.azurite
async def test_an_unpaid_order_is_cancelled_when_its_timeout_comes_through_the_queue(
    queue: StorageQueueChannel, azurite: AzuriteProcess
) -> None:
    source = InMemoryEventSource(EventTypeRegistry([OrderPlaced]))
    commands = Commands()
    action = ProcessManagerAction(Fulfilment, source, commands, scheduler=queue)
    receiver = queue.receiver(poll_interval_max=timedelta(milliseconds=100))
    host = ProcessingHost(channel_source(receiver, wait=timedelta(milliseconds=100)), action.serializer).add(
        Events(), action
    )
    (placed,) = recorded("Order", "o-1", [OrderPlaced(order_id="o-1")])

    async with host:
        await queue.publish([CloudEvent.from_event(placed, JsonEventSerializer(source.registry))])
        await eventually(lambda: len(commands.handled) == 1, within=10, what="stock reserved")
        reserved_at = datetime.now(UTC)
        await eventually(lambda: host.stats.completed == 1, within=10, what="the order event completed")
        async with QueueClient.from_connection_string(azurite.connection_string, queue.queue_name) as client:
            assert (await client.get_queue_properties()).approximate_message_count == 1, "the timeout waits, hidden"
            assert await client.peek_messages() == [], "invisible until it is due"
        await eventually(lambda: len(commands.handled) == 2, within=15, what="the order cancelled")
        cancelled_at = datetime.now(UTC)

    assert [command for _, command in commands.handled] == [
        ReserveStock(order_id="o-1"),
        CancelOrder(order_id="o-1", reason="no payment in time"),
    ]
    assert cancelled_at - reserved_at >= PAYMENT_WINDOW - timedelta(seconds=1)


@pytest.mark.azurite
async def test_a_queue_cannot_hide_a_message_for_more_than_seven_days(queue: StorageQueueChannel) -> None:
    with pytest.raises(ChannelConfigurationError, match="at most 7 days"):
        await queue.schedule(envelopes("o-1", 1), datetime.now(UTC) + timedelta(days=8))


async def test_service_bus_enqueues_a_scheduled_message_at_its_time(
    broker: AmqpTestBroker, make_channel: Callable[..., ServiceBusChannel]
) -> None:
    channel = make_channel()
    receiver = channel.receiver()
    await receiver.receive(1, wait=timedelta(milliseconds=10))  # connected: what follows measures the schedule only
    sent = envelopes("o-1", 1)

    await channel.schedule(sent, datetime.now(UTC) + timedelta(seconds=1.5))
    early = await receiver.receive(1, wait=timedelta(milliseconds=500))
    late = await receiver.receive(1, wait=timedelta(seconds=5))

    assert early == []
    assert [message.envelope for message in late] == sent
    assert broker.management_operations() == ["com.microsoft:schedule-message"]
    await receiver.close()
    await asyncio.sleep(0)


@pytest.fixture
async def make_channel(broker: AmqpTestBroker) -> AsyncIterator[Callable[..., ServiceBusChannel]]:
    channels: list[ServiceBusChannel] = []

    def make() -> ServiceBusChannel:
        channel = ServiceBusChannel.from_connection_string(
            broker.connection_string(), queue_name="orders", retry_total=0
        )
        channels.append(channel)
        return channel

    yield make
    for channel in channels:
        await channel.close()
