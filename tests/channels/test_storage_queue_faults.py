"""The Storage Queue channel and receiver when the queue service fails, through a fault-injecting proxy on Azurite.

Each scenario asserts the typed error and that no message is lost. Duplicates appear only where
at-least-once allows them, and the test says where: a send whose answer was lost is stored, so
sending again (what the outbox relay does) stores it twice; a receive whose answer was lost hides its
messages until their visibility timeout, after which they come back with their delivery count raised.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest

from messagehandler.channels import ChannelReceiver, ReceivedMessage
from messagehandler.channels.errors import ChannelError, ChannelUnavailableError, MessageLockLostError
from messagehandler.channels.transactional.storage_queue import StorageQueueChannel
from messagehandler.errors import ServiceUnavailableError
from tests.channels.support import envelopes
from tests.support.fault_proxy import Fault

if TYPE_CHECKING:
    from messagehandler.testing.azurite import AzuriteProcess
    from tests.support.fault_proxy import FaultProxy

pytestmark = pytest.mark.azurite

VISIBILITY = timedelta(seconds=1)


@pytest.fixture
async def direct(azurite: AzuriteProcess, queue_name: str) -> AsyncIterator[StorageQueueChannel]:
    """The channel straight to Azurite: to set up and to look at the queue as it really is."""
    async with StorageQueueChannel.from_connection_string(azurite.connection_string, queue_name) as channel:
        yield channel


@pytest.fixture
async def proxied(
    azurite: AzuriteProcess, queue_name: str, queue_proxy: FaultProxy
) -> AsyncIterator[StorageQueueChannel]:
    connection_string = queue_proxy.rewrite(azurite.connection_string)
    async with StorageQueueChannel.from_connection_string(connection_string, queue_name, retry_total=0) as channel:
        yield channel


@pytest.fixture
async def receiver(proxied: StorageQueueChannel) -> AsyncIterator[ChannelReceiver]:
    receiver = proxied.receiver(visibility_timeout=VISIBILITY, poll_interval_max=timedelta(milliseconds=100))
    yield receiver
    await receiver.close()


async def drain(receiver: ChannelReceiver, count: int, *, within: float = 15.0) -> list[ReceivedMessage]:
    """Receive and complete until `count` messages arrived; then check that no more come."""
    deadline = time.monotonic() + within
    received: list[ReceivedMessage] = []
    while len(received) < count and time.monotonic() < deadline:
        batch = await receiver.receive(32, wait=timedelta(seconds=1))
        for message in batch:
            await message.complete()
        received += batch
    assert len(received) == count, f"{len(received)} of {count} message(s) arrived"
    return received


async def test_a_refused_connection_is_unavailable_and_nothing_is_lost(
    direct: StorageQueueChannel, proxied: StorageQueueChannel, receiver: ChannelReceiver, queue_proxy: FaultProxy
) -> None:
    before = envelopes("o-0", 1)
    await direct.publish(before)  # the queue exists
    sent = envelopes("o-1", 2)

    async with queue_proxy.down():
        with pytest.raises(ChannelUnavailableError) as publishing:
            await proxied.publish(sent)
        with pytest.raises(ChannelUnavailableError) as receiving:
            await receiver.receive(1, wait=timedelta(0))

    for raised in (publishing, receiving):
        assert isinstance(raised.value, ServiceUnavailableError)
        assert raised.value.retryable
        assert raised.value.reached_service is False
    await proxied.publish(sent)  # what the relay does once the service is back
    arrived = await drain(receiver, 3)
    assert sorted(m.envelope.id for m in arrived) == sorted(e.id for e in [*before, *sent])


async def test_a_send_whose_answer_was_lost_is_stored_and_a_resend_duplicates_it(
    proxied: StorageQueueChannel, receiver: ChannelReceiver, queue_proxy: FaultProxy, direct: StorageQueueChannel
) -> None:
    await direct.publish(envelopes("o-0", 1))
    await drain(receiver, 1)
    sent = envelopes("o-1", 1)
    queue_proxy.inject(Fault.DROP_RESPONSE, match=b"POST ")

    with pytest.raises(ChannelUnavailableError) as raised:
        await proxied.publish(sent)

    assert raised.value.reached_service is True, "the request reached the service: the outcome is unknown"
    await proxied.publish(sent)  # the relay's retry: at least once
    arrived = await drain(receiver, 2)
    assert [m.envelope.id for m in arrived] == [sent[0].id, sent[0].id]


@pytest.mark.parametrize("fault", [Fault.DROP_RESPONSE, Fault.CUT_RESPONSE])
async def test_a_receive_whose_answer_was_lost_hands_the_messages_out_again_later(
    direct: StorageQueueChannel, receiver: ChannelReceiver, queue_proxy: FaultProxy, fault: Fault
) -> None:
    sent = envelopes("o-1", 3)
    await direct.publish(sent)
    queue_proxy.inject(fault, match=b"GET ", times=2, cut_after=200)  # aiohttp repeats a GET once

    with pytest.raises(ChannelUnavailableError):
        await receiver.receive(32, wait=timedelta(0))

    arrived = await drain(receiver, 3)
    assert sorted(m.envelope.id for m in arrived) == sorted(e.id for e in sent)
    assert {m.delivery_count for m in arrived} >= {2}, "the lost receive did dequeue them: they come back"


async def test_a_completion_whose_answer_was_lost_deleted_the_message(
    direct: StorageQueueChannel, receiver: ChannelReceiver, queue_proxy: FaultProxy
) -> None:
    sent = envelopes("o-1", 2)
    await direct.publish(sent)
    first, second = await receiver.receive(2, wait=timedelta(seconds=5))
    queue_proxy.inject(Fault.DROP_RESPONSE, match=b"DELETE ", times=2)

    with pytest.raises(ChannelError) as raised:
        await first.complete()

    # The delete reached the service; aiohttp's repeat of it finds the message gone.
    assert isinstance(raised.value, ChannelUnavailableError | MessageLockLostError)
    await second.complete()
    assert await receiver.receive(32, wait=timedelta(seconds=2)) == [], "a completed message came back"


async def test_a_reset_before_the_delete_was_sent_leaves_the_message_to_come_back(
    direct: StorageQueueChannel, receiver: ChannelReceiver, queue_proxy: FaultProxy
) -> None:
    sent = envelopes("o-1", 1)
    await direct.publish(sent)
    (message,) = await receiver.receive(1, wait=timedelta(seconds=5))
    queue_proxy.inject(Fault.RESET_REQUEST, match=b"DELETE ", times=2)

    with pytest.raises(ChannelUnavailableError):
        await message.complete()

    (again,) = await drain(receiver, 1)
    assert again.envelope.id == sent[0].id
    assert again.delivery_count == 2
