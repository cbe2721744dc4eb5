"""Against a real event hub, when EVENTHUB_CONNECTION_STRING (and EVENTHUB_NAME, unless the
string has an EntityPath) are set: publishing a batch of one stream must succeed end to end."""

from __future__ import annotations

import os
import uuid

import pytest

from messagehandler.channels.streaming.eventhubs import EventHubChannel
from tests.channels.support import envelopes

CONNECTION_STRING = os.environ.get("EVENTHUB_CONNECTION_STRING")

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not CONNECTION_STRING, reason="EVENTHUB_CONNECTION_STRING not set"),
]


async def test_a_batch_of_one_stream_is_accepted() -> None:
    assert CONNECTION_STRING
    channel = EventHubChannel.from_connection_string(
        CONNECTION_STRING, eventhub_name=os.environ.get("EVENTHUB_NAME") or None
    )
    async with channel:
        await channel.publish(envelopes(f"live-{uuid.uuid4().hex[:8]}", 3))
