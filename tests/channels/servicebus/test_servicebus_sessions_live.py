"""Sessions against a real Service Bus namespace, when one is configured.

SERVICEBUS_CONNECTION_STRING and SERVICEBUS_SESSION_QUEUE_NAME name a session-enabled queue: two
session receivers (two connections, as two workers) read two streams, each stream whole and in order
on one of them, and leave the queue as they found it.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from datetime import timedelta

import pytest

from messagehandler.channels.transactional.servicebus import ServiceBusChannel
from messagehandler.channels.transactional.servicebus_sessions import ServiceBusSessionReceiver
from tests.channels.support import envelopes, interleaved

CONNECTION_STRING = os.environ.get("SERVICEBUS_CONNECTION_STRING")
QUEUE_NAME = os.environ.get("SERVICEBUS_SESSION_QUEUE_NAME")

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(
        not (CONNECTION_STRING and QUEUE_NAME),
        reason="SERVICEBUS_CONNECTION_STRING and SERVICEBUS_SESSION_QUEUE_NAME not set",
    ),
]


async def test_two_session_receivers_each_read_whole_streams_in_order() -> None:
    assert CONNECTION_STRING
    assert QUEUE_NAME
    run = uuid.uuid4().hex[:8]
    streams = [envelopes(f"live-{run}-{n}", 3) for n in range(2)]
    channels = [
        ServiceBusChannel.from_connection_string(CONNECTION_STRING, queue_name=QUEUE_NAME, sessions=True)
        for _ in range(2)
    ]
    await channels[0].publish(interleaved(*streams))
    got: dict[str, list[str]] = {}

    async def consume(channel: ServiceBusChannel) -> None:
        receiver = channel.receiver(max_sessions=1, session_idle=timedelta(seconds=2))
        assert isinstance(receiver, ServiceBusSessionReceiver)
        try:
            for _ in range(30):
                for message in await receiver.receive(10, wait=timedelta(seconds=2)):
                    got.setdefault(message.envelope.stream_id, []).append(message.envelope.id)
                    await message.complete()
                if sum(map(len, got.values())) >= 6:
                    return
        finally:
            await receiver.close()

    try:
        await asyncio.gather(*(consume(channel) for channel in channels))
    finally:
        for channel in channels:
            await channel.close()
    assert got == {stream[0].stream_id: [e.id for e in stream] for stream in streams}
