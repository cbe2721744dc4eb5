"""Event Hubs channels against the AMQP test broker, through the real producer client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from messagehandler.channels.streaming.eventhubs import EventHubChannel
from tests.support.amqp_broker import AmqpTestBroker
from tests.support.amqp_broker.fixtures import broker, broker_options

HUB = "telemetry"
__all__ = ["HUB", "broker", "broker_options"]


@pytest.fixture
async def make_channel(broker: AmqpTestBroker) -> AsyncIterator[Callable[..., EventHubChannel]]:
    channels: list[EventHubChannel] = []

    def make(**options: Any) -> EventHubChannel:
        options.setdefault("eventhub_name", HUB)
        options.setdefault("retry_total", 0)
        channel = EventHubChannel.from_connection_string(broker.connection_string(), **options)
        channels.append(channel)
        return channel

    yield make
    for channel in channels:
        await channel.close()
