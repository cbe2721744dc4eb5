"""The host on a real Storage queue (Azurite): redelivery after a failed action, nothing completed early."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest

from messagehandler import JsonEventSerializer
from messagehandler.channels import ChannelKind
from messagehandler.processing import ActionableContext, ProcessingHost, channel_source
from samples.processing.transformation import EventSummary, SummaryQuery
from tests.processing.conftest import readings
from tests.processing.fakes import eventually

if TYPE_CHECKING:
    from messagehandler.channels.transactional.storage_queue import StorageQueueChannel
    from messagehandler.testing.azurite import AzuriteProcess

pytestmark = pytest.mark.azurite


@pytest.fixture
async def channel(azurite: AzuriteProcess) -> AsyncIterator[StorageQueueChannel]:
    from messagehandler.channels.transactional.storage_queue import StorageQueueChannel

    async with StorageQueueChannel.from_connection_string(
        azurite.connection_string, f"processing-{uuid.uuid4().hex[:12]}"
    ) as channel:
        yield channel


async def queued(channel: StorageQueueChannel) -> int:
    from azure.storage.queue.aio import QueueClient

    client: QueueClient = channel._client  # type: ignore[attr-defined]
    properties = await client.get_queue_properties()
    return int(properties.approximate_message_count or 0)


def host_on(
    channel: StorageQueueChannel, serializer: JsonEventSerializer, *, batch_size: int = 32, max_in_flight: int = 64
) -> ProcessingHost:
    receiver = channel.receiver(visibility_timeout=timedelta(seconds=5), poll_interval_max=timedelta(milliseconds=50))
    source = channel_source(
        receiver, ChannelKind.TRANSACTIONAL, batch_size=batch_size, wait=timedelta(milliseconds=100)
    )
    return ProcessingHost(source, serializer, max_in_flight=max_in_flight)


async def test_failing_action_is_redelivered_and_nothing_is_completed_early(
    channel: StorageQueueChannel, serializer: JsonEventSerializer
) -> None:
    sent = [
        readings(serializer, (name, value), stream=f"plant-{name}")[0]
        for name, value in [("a", 1.0), ("b", 2.0), ("c", 3.0)]
    ]
    await channel.publish(sent)
    deliveries: dict[str, list[int]] = {}
    gate = asyncio.Event()

    async def flaky(outcome: ActionableContext[EventSummary]) -> None:
        [context] = outcome.contexts
        deliveries.setdefault(context.message_id, []).append(context.delivery_count)
        if context.message_id == sent[1].id and context.delivery_count == 1:
            raise RuntimeError("fails on first delivery")
        await gate.wait()

    # three streams, one message per batch: each action runs on its own worker and one can wait while others go on
    async with host_on(channel, serializer, batch_size=1).add(SummaryQuery(), flaky) as host:
        await eventually(lambda: len(deliveries) == 3, what="all delivered")
        assert await queued(channel) == 3, "a message was deleted before its action finished"
        await eventually(lambda: deliveries.get(sent[1].id, []) == [1, 2], what="redelivery of the failed one")
        assert host.stats.completed == 0
        gate.set()
        await eventually(lambda: host.stats.completed == 3, within=10, what="all completed")
    assert await queued(channel) == 0
    assert deliveries[sent[0].id] == [1]
    assert deliveries[sent[2].id] == [1]


async def test_shutdown_loses_nothing(channel: StorageQueueChannel, serializer: JsonEventSerializer) -> None:
    sent = readings(serializer, *[("a", float(n)) for n in range(40)])
    await channel.publish(sent)
    handled: set[str] = set()
    hang = asyncio.Event()

    async def half_then_hang(outcome: ActionableContext[EventSummary]) -> None:
        if len(handled) >= 20:
            await hang.wait()
        handled.add(outcome.message.event_id)

    host = host_on(channel, serializer, max_in_flight=24).add(SummaryQuery(), half_then_hang)
    await host.start()
    await eventually(lambda: len(handled) >= 20, within=10, what="half handled")
    await host.stop(grace=timedelta(milliseconds=200))

    async def finish(outcome: ActionableContext[EventSummary]) -> None:
        handled.add(outcome.message.event_id)

    async with host_on(channel, serializer).add(SummaryQuery(), finish) as second:
        await eventually(lambda: len(handled) == 40, within=15, what="the rest handled by a new host")
        await eventually(lambda: second.stats.completed + host.stats.completed >= 40, what="all completed")
    assert handled == {envelope.id for envelope in sent}
    assert await queued(channel) == 0
