"""Against a real event hub and storage account, when EVENTHUB_CONNECTION_STRING (plus EVENTHUB_NAME,
unless the string has an EntityPath) and EVENTHUB_CHECKPOINT_STORAGE_CONNECTION_STRING are set:
events published by the channel are received, and completing them stores a checkpoint."""

from __future__ import annotations

import asyncio
import os
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from messagehandler.channels.streaming.eventhubs import EventHubChannel
from messagehandler.channels.streaming.eventhubs_receiver import EventHubReceiver
from tests.channels.support import envelopes

CONNECTION_STRING = os.environ.get("EVENTHUB_CONNECTION_STRING")
STORAGE_CONNECTION_STRING = os.environ.get("EVENTHUB_CHECKPOINT_STORAGE_CONNECTION_STRING")

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(
        not (CONNECTION_STRING and STORAGE_CONNECTION_STRING),
        reason="EVENTHUB_CONNECTION_STRING or EVENTHUB_CHECKPOINT_STORAGE_CONNECTION_STRING not set",
    ),
]


async def test_published_events_are_received_and_checkpointed() -> None:
    from azure.eventhub.extensions.checkpointstoreblobaio import BlobCheckpointStore
    from azure.eventhub.extensions.checkpointstoreblobaio._vendor.storage.blob.aio import ContainerClient

    assert CONNECTION_STRING
    assert STORAGE_CONNECTION_STRING
    hub = os.environ.get("EVENTHUB_NAME") or None
    container = f"mh-live-{uuid.uuid4().hex[:12]}"
    sent = envelopes(f"live-{uuid.uuid4().hex[:8]}", 3)
    async with ContainerClient.from_connection_string(STORAGE_CONNECTION_STRING, container) as client:
        await client.create_container()
        try:
            async with BlobCheckpointStore.from_connection_string(STORAGE_CONNECTION_STRING, container) as store:
                receiver = EventHubReceiver.from_connection_string(
                    CONNECTION_STRING,
                    eventhub_name=hub,
                    checkpoint_store=store,
                    starting_position=datetime.now(UTC) - timedelta(seconds=30),
                )
                async with receiver:
                    async with EventHubChannel.from_connection_string(CONNECTION_STRING, eventhub_name=hub) as channel:
                        await channel.publish(sent)
                    mine: list[str] = []
                    deadline = asyncio.get_running_loop().time() + 60
                    while len(mine) < len(sent):
                        assert asyncio.get_running_loop().time() < deadline, f"received {mine} of {sent}"
                        for message in await receiver.receive(100, wait=timedelta(seconds=2)):
                            if message.envelope.stream_id == sent[0].stream_id:
                                mine.append(message.envelope.id)
                            await message.complete()
                    assert mine == [e.id for e in sent]
                    namespace = receiver._namespace
                    checkpoints = await store.list_checkpoints(namespace, receiver.eventhub_name, "$Default")
                    assert checkpoints, "completing the events stored no checkpoint"
        finally:
            await client.delete_container()
