"""Fixtures of the channel tests: a local HTTP endpoint and Storage queues on the session's Azurite."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import pytest

from tests.channels.http_receiver import HttpReceiver

if TYPE_CHECKING:
    from messagehandler.channels.transactional.storage_queue import StorageQueueChannel
    from messagehandler.testing.azurite import AzuriteProcess


@pytest.fixture
async def http_receiver() -> AsyncIterator[HttpReceiver]:
    receiver = await HttpReceiver().start()
    yield receiver
    await receiver.stop()


@pytest.fixture
def queue_name() -> str:
    return f"q{uuid.uuid4().hex[:20]}"


@pytest.fixture
async def make_queue_channel(
    azurite: AzuriteProcess, queue_name: str
) -> AsyncIterator[Callable[..., StorageQueueChannel]]:
    """Build channels on this test's queue (options as keyword arguments); closes them afterwards."""
    from messagehandler.channels.transactional.storage_queue import StorageQueueChannel

    channels: list[StorageQueueChannel] = []

    def make(**options: Any) -> StorageQueueChannel:
        channel = StorageQueueChannel.from_connection_string(azurite.connection_string, queue_name, **options)
        channels.append(channel)
        return channel

    yield make
    for channel in channels:
        await channel.close()
