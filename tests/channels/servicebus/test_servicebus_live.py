"""Against a real Service Bus namespace, when one is configured.

SERVICEBUS_CONNECTION_STRING and SERVICEBUS_QUEUE_NAME name a queue without sessions; the test
publishes, receives its own events back (completing them) and leaves the queue as it found it.
"""

from __future__ import annotations

import os
import uuid
from datetime import timedelta

import pytest

from messagehandler.channels.transactional.servicebus import ServiceBusChannel
from tests.channels.support import envelopes

CONNECTION_STRING = os.environ.get("SERVICEBUS_CONNECTION_STRING")
QUEUE_NAME = os.environ.get("SERVICEBUS_QUEUE_NAME")

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(
        not (CONNECTION_STRING and QUEUE_NAME), reason="SERVICEBUS_CONNECTION_STRING and SERVICEBUS_QUEUE_NAME not set"
    ),
]


async def test_published_events_come_back_in_order() -> None:
    assert CONNECTION_STRING
    assert QUEUE_NAME
    sent = envelopes(f"live-{uuid.uuid4().hex[:8]}", 3)
    async with ServiceBusChannel.from_connection_string(CONNECTION_STRING, queue_name=QUEUE_NAME) as channel:
        await channel.publish(sent)
        receiver = channel.receiver()
        try:
            mine = []
            for _ in range(10):
                for message in await receiver.receive(10, wait=timedelta(seconds=5)):
                    if message.envelope.stream_id == sent[0].stream_id:
                        mine.append(message.envelope)
                        await message.complete()
                    else:
                        await message.abandon()
                if len(mine) == len(sent):
                    break
        finally:
            await receiver.close()
    assert mine == sent
