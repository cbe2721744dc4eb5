"""Service Bus channels against the AMQP test broker: the real SDK on one side, the broker on the other."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from messagehandler.channels.transactional.servicebus import ServiceBusChannel
from tests.support.amqp_broker import AmqpTestBroker
from tests.support.amqp_broker.fixtures import broker, broker_options

QUEUE = "orders"
__all__ = ["QUEUE", "broker", "broker_options"]


@pytest.fixture
async def make_channel(broker: AmqpTestBroker) -> AsyncIterator[Callable[..., ServiceBusChannel]]:
    """Channels on the broker (`queue_name=orders` unless told otherwise), closed after the test."""
    channels: list[ServiceBusChannel] = []

    def make(**options: Any) -> ServiceBusChannel:
        if "topic_name" not in options:
            options.setdefault("queue_name", QUEUE)
        options.setdefault("retry_total", 0)
        channel = ServiceBusChannel.from_connection_string(broker.connection_string(), **options)
        channels.append(channel)
        return channel

    yield make
    for channel in channels:
        await channel.close()
