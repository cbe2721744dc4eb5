"""The Channel contract (messagehandler.testing.channel) against every built-in channel.

To add a channel: write its factory in tests/channels/contract_channels.py and a two-line subclass here.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING

import pytest

from messagehandler.testing.channel import ChannelContract, ChannelUnderTest
from tests.channels.contract_channels import event_grid, event_hubs, in_process, service_bus, storage_queue, webhook

if TYPE_CHECKING:
    from messagehandler.testing.azurite import AzuriteProcess


class TestInProcess(ChannelContract):
    def channel_under_test(self) -> AbstractAsyncContextManager[ChannelUnderTest]:
        return in_process()


class TestWebhook(ChannelContract):
    def channel_under_test(self) -> AbstractAsyncContextManager[ChannelUnderTest]:
        return webhook(batch=False)()


class TestWebhookBatch(ChannelContract):
    def channel_under_test(self) -> AbstractAsyncContextManager[ChannelUnderTest]:
        return webhook(batch=True)()


class TestEventGridCloudEvent(ChannelContract):
    def channel_under_test(self) -> AbstractAsyncContextManager[ChannelUnderTest]:
        return event_grid("cloudevent")()


class TestEventGridEventGrid(ChannelContract):
    carries_extensions = False

    def channel_under_test(self) -> AbstractAsyncContextManager[ChannelUnderTest]:
        return event_grid("eventgrid")()


class TestServiceBus(ChannelContract):
    def channel_under_test(self) -> AbstractAsyncContextManager[ChannelUnderTest]:
        return service_bus()


class TestEventHubs(ChannelContract):
    def channel_under_test(self) -> AbstractAsyncContextManager[ChannelUnderTest]:
        return event_hubs()


@pytest.mark.azurite
class TestStorageQueue(ChannelContract):
    @pytest.fixture(autouse=True)
    def _azurite(self, azurite: AzuriteProcess) -> None:
        self.connection_string = azurite.connection_string

    def channel_under_test(self) -> AbstractAsyncContextManager[ChannelUnderTest]:
        return storage_queue(self.connection_string)
