"""Partition balancing against a real event hub (at least two partitions) and storage account, when
EVENTHUB_CONNECTION_STRING (plus EVENTHUB_NAME) and EVENTHUB_CHECKPOINT_STORAGE_CONNECTION_STRING are set:
two receivers of one consumer group split the partitions, and one takes them all when the other closes."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from messagehandler.channels.streaming.eventhubs_receiver import EventHubReceiver

CONNECTION_STRING = os.environ.get("EVENTHUB_CONNECTION_STRING")
STORAGE_CONNECTION_STRING = os.environ.get("EVENTHUB_CHECKPOINT_STORAGE_CONNECTION_STRING")

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(
        not (CONNECTION_STRING and STORAGE_CONNECTION_STRING),
        reason="EVENTHUB_CONNECTION_STRING or EVENTHUB_CHECKPOINT_STORAGE_CONNECTION_STRING not set",
    ),
]


async def test_two_receivers_split_the_partitions_and_one_takes_them_all_when_the_other_closes() -> None:
    from azure.eventhub.extensions.checkpointstoreblobaio import BlobCheckpointStore
    from azure.eventhub.extensions.checkpointstoreblobaio._vendor.storage.blob.aio import ContainerClient

    assert CONNECTION_STRING
    assert STORAGE_CONNECTION_STRING
    hub = os.environ.get("EVENTHUB_NAME") or None
    container = f"mh-live-{uuid.uuid4().hex[:12]}"
    async with ContainerClient.from_connection_string(STORAGE_CONNECTION_STRING, container) as client:
        await client.create_container()
        try:
            async with BlobCheckpointStore.from_connection_string(STORAGE_CONNECTION_STRING, container) as store:

                def receiver() -> EventHubReceiver:
                    return EventHubReceiver.from_connection_string(
                        CONNECTION_STRING, eventhub_name=hub, checkpoint_store=store,
                        starting_position=datetime.now(UTC), load_balancing_interval=timedelta(seconds=2),
                    )  # fmt: skip

                first, second = receiver(), receiver()
                stop = asyncio.Event()

                async def keep_receiving(one: EventHubReceiver) -> None:
                    while not stop.is_set():
                        for message in await one.receive(100, wait=timedelta(milliseconds=500)):
                            await message.complete()

                async def owners() -> Counter[str]:
                    records = await store.list_ownership(first._namespace, first.eventhub_name, "$Default")
                    return Counter(r["owner_id"] for r in records if r.get("owner_id"))

                async def until(done: object, within: float) -> None:
                    deadline = asyncio.get_running_loop().time() + within
                    while not await done():  # type: ignore[operator]
                        assert asyncio.get_running_loop().time() < deadline
                        await asyncio.sleep(1)

                tasks = [asyncio.ensure_future(keep_receiving(one)) for one in (first, second)]

                async def split() -> bool:
                    counts = await owners()
                    return len(counts) == 2 and abs(max(counts.values()) - min(counts.values())) <= 1

                await until(split, 120)
                partitions = sum((await owners()).values())
                stop.set()
                await asyncio.gather(*tasks)
                await second.close()
                stop.clear()
                survivor = asyncio.ensure_future(keep_receiving(first))

                async def alone() -> bool:
                    return list((await owners()).values()) == [partitions]  # the survivor owns every one

                await until(alone, 120)
                stop.set()
                await survivor
                await first.close()
        finally:
            await client.delete_container()
