"""Storage Queue channel on Azurite: settlement, redelivery, the poison queue, encodings, limits and secrets."""

from __future__ import annotations

import base64
import logging
import time
import traceback
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest

from messagehandler.channels import ChannelError, ChannelReceiver, CloudEvent, ReceivedMessage
from messagehandler.channels.errors import ChannelConfigurationError, MessageLockLostError
from messagehandler.channels.transactional.storage_queue import StorageQueueChannel
from messagehandler.channels.transactional.storage_queue_clients import QueueEncoding
from tests.channels.support import envelopes, interleaved, with_wire_size

if TYPE_CHECKING:
    from azure.storage.queue.aio import QueueClient

    from messagehandler.testing.azurite import AzuriteProcess

pytestmark = pytest.mark.azurite

MakeChannel = Callable[..., StorageQueueChannel]
FAKE_KEY = base64.b64encode(b"not-a-real-key-but-shaped-like-one-0123456789").decode()


async def receive_until(receiver: ChannelReceiver, count: int = 1, *, within: float = 10.0) -> list[ReceivedMessage]:
    deadline = time.monotonic() + within
    received: list[ReceivedMessage] = []
    while len(received) < count and time.monotonic() < deadline:
        received += await receiver.receive(count - len(received), wait=timedelta(seconds=1))
    assert len(received) >= count, f"only {len(received)} of {count} message(s) arrived"
    return received


@pytest.fixture
async def raw_queue(azurite: AzuriteProcess) -> AsyncIterator[Callable[[str], QueueClient]]:
    """The SDK's own client, without decoding: to see message text as other tools do."""
    from azure.storage.queue.aio import QueueClient

    clients: list[QueueClient] = []

    def make(name: str) -> QueueClient:
        clients.append(QueueClient.from_connection_string(azurite.connection_string, name))
        return clients[-1]

    yield make
    for client in clients:
        await client.close()


async def test_a_completed_message_is_gone(make_queue_channel: MakeChannel) -> None:
    channel = make_queue_channel()
    sent = envelopes("o-1", 2)
    await channel.publish(sent)
    async with _receiver(channel) as receiver:
        messages = await receive_until(receiver, 2)
        assert [m.envelope for m in messages] == sent
        assert [m.delivery_count for m in messages] == [1, 1]
        for message in messages:
            await message.complete()

        assert await receiver.receive(wait=timedelta(milliseconds=300)) == []


async def test_an_unsettled_message_comes_back_after_the_visibility_timeout(make_queue_channel: MakeChannel) -> None:
    channel = make_queue_channel()
    sent = envelopes("o-1", 1)
    await channel.publish(sent)
    async with _receiver(channel, visibility_timeout=timedelta(seconds=1)) as receiver:
        first = await receive_until(receiver)
        assert await receiver.receive(wait=timedelta(0)) == []

        again = await receive_until(receiver, within=10)

        assert again[0].envelope == sent[0]
        assert again[0].delivery_count == 2
        with pytest.raises(MessageLockLostError, match="expired"):
            await first[0].complete()
        await again[0].complete()


async def test_abandon_makes_the_message_available_again_at_once(make_queue_channel: MakeChannel) -> None:
    channel = make_queue_channel()
    await channel.publish(envelopes("o-1", 1))
    async with _receiver(channel, visibility_timeout=timedelta(seconds=60)) as receiver:
        (message,) = await receive_until(receiver)
        await message.abandon()

        (again,) = await receive_until(receiver, within=5)

        assert again.envelope == message.envelope
        assert again.delivery_count == 2
        with pytest.raises(ChannelError, match="already settled"):
            await message.complete()


async def test_a_message_over_the_delivery_limit_is_moved_to_the_poison_queue(
    make_queue_channel: MakeChannel, raw_queue: Callable[[str], QueueClient], queue_name: str
) -> None:
    channel = make_queue_channel()
    sent = envelopes("o-1", 1)
    await channel.publish(sent)
    async with _receiver(channel, max_delivery_count=2) as receiver:
        for delivery in (1, 2):
            (message,) = await receive_until(receiver)
            assert message.delivery_count == delivery
            await message.abandon()

        assert await receiver.receive(wait=timedelta(milliseconds=300)) == []

    poisoned = [m async for m in raw_queue(f"{queue_name}-poison").receive_messages()]
    assert [CloudEvent.from_json(base64.b64decode(m.content)) for m in poisoned] == sent
    assert (await raw_queue(queue_name).peek_messages(max_messages=32)) == []


async def test_dead_letter_moves_the_message_aside_unchanged(
    make_queue_channel: MakeChannel, raw_queue: Callable[[str], QueueClient], queue_name: str
) -> None:
    channel = make_queue_channel()
    await channel.publish(envelopes("o-1", 1))
    async with _receiver(channel) as receiver:
        (message,) = await receive_until(receiver)
        original = await raw_queue(queue_name).peek_messages(max_messages=32)
        assert original == []  # hidden while locked

        await message.dead_letter("handler rejected it")

        assert await receiver.receive(wait=timedelta(milliseconds=300)) == []
    (poisoned,) = await raw_queue(f"{queue_name}-poison").peek_messages(max_messages=32)
    assert CloudEvent.from_json(base64.b64decode(poisoned.content)) == message.envelope


async def test_a_message_that_is_not_an_envelope_goes_to_the_poison_queue(
    make_queue_channel: MakeChannel, raw_queue: Callable[[str], QueueClient], queue_name: str
) -> None:
    channel = make_queue_channel()
    await channel.publish(envelopes("o-1", 1))
    await raw_queue(queue_name).send_message(base64.b64encode(b'{"not": "a cloud event"}').decode())
    async with _receiver(channel) as receiver:
        received = await receive_until(receiver)
        assert await receiver.receive(wait=timedelta(milliseconds=300)) == []
    assert len(received) == 1
    assert len(await raw_queue(f"{queue_name}-poison").peek_messages(max_messages=32)) == 1


async def test_per_stream_order_survives_concurrent_sends(make_queue_channel: MakeChannel) -> None:
    channel = make_queue_channel(max_concurrency=8)
    streams = [envelopes(f"o-{n}", 12) for n in range(5)]
    await channel.publish(interleaved(*streams))
    async with _receiver(channel) as receiver:
        received = [m.envelope for m in await receive_until(receiver, 60)]
    for stream in streams:
        mine = [e.stream_version for e in received if e.stream_id == stream[0].stream_id]
        assert mine == list(range(1, 13))


@pytest.mark.parametrize(
    ("encoding", "limit", "to_text"),
    [
        (QueueEncoding.BASE64, 49_152, lambda body: base64.b64encode(body).decode()),
        (QueueEncoding.TEXT, 65_536, lambda body: body.decode()),
    ],
)
async def test_an_envelope_at_the_limit_fits_the_64_kib_message_text(
    make_queue_channel: MakeChannel,
    raw_queue: Callable[[str], QueueClient],
    queue_name: str,
    encoding: QueueEncoding,
    limit: int,
    to_text: Callable[[bytes], str],
) -> None:
    channel = make_queue_channel(encoding=encoding)
    assert channel.max_message_bytes == limit
    at_limit = with_wire_size(envelopes("o-1", 1)[0], limit)

    await channel.publish([at_limit])

    (stored,) = await raw_queue(queue_name).peek_messages(max_messages=32)
    assert stored.content == to_text(at_limit.to_bytes())
    assert len(stored.content.encode()) <= 64 * 1024


async def test_a_missing_queue_is_reported_when_creation_is_off(
    make_queue_channel: MakeChannel, queue_name: str
) -> None:
    channel = make_queue_channel(create_queue=False, name="orders")

    with pytest.raises(ChannelError, match="does not exist") as raised:
        await channel.publish(envelopes("o-1", 1))

    assert "'orders'" in str(raised.value)
    assert queue_name in str(raised.value)


@pytest.mark.parametrize("bad_name", ["Orders", "a", "two--hyphens", "-leading", "x" * 57])
def test_invalid_queue_names_are_refused_at_construction(azurite: AzuriteProcess, bad_name: str) -> None:
    with pytest.raises(ChannelConfigurationError, match="not a valid queue name"):
        StorageQueueChannel.from_connection_string(azurite.connection_string, bad_name)


def test_a_malformed_connection_string_names_the_channel_not_the_key() -> None:
    connection_string = f"AccountKey={FAKE_KEY};nonsense"

    with pytest.raises(ChannelConfigurationError) as raised:
        StorageQueueChannel.from_connection_string(connection_string, "orders", name="orders-channel")

    assert "orders-channel" in str(raised.value)
    assert FAKE_KEY not in "".join(traceback.format_exception(raised.value))


async def test_credentials_stay_out_of_reprs_errors_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    connection_string = (
        f"DefaultEndpointsProtocol=http;AccountName=acct;AccountKey={FAKE_KEY};QueueEndpoint=http://127.0.0.1:9/acct;"
    )
    caplog.set_level(logging.DEBUG)
    channel = StorageQueueChannel.from_connection_string(connection_string, "orders", retry_total=0)
    receiver = channel.receiver()
    try:
        with pytest.raises(ChannelError) as published:
            await channel.publish(envelopes("o-1", 1))
        with pytest.raises(ChannelError) as received:
            await receiver.receive(wait=timedelta(0))
    finally:
        await receiver.close()
        await channel.close()

    texts = [
        repr(channel),
        repr(receiver),
        *("".join(traceback.format_exception(error.value)) for error in (published, received)),
        caplog.text,
    ]
    assert "127.0.0.1" in texts[2]
    for text in texts:
        assert FAKE_KEY not in text


async def test_account_url_and_credential_constructor(azurite: AzuriteProcess, queue_name: str) -> None:
    from azure.core.credentials import AzureNamedKeyCredential

    from messagehandler.testing.azurite import ACCOUNT_KEY, ACCOUNT_NAME

    credential = AzureNamedKeyCredential(ACCOUNT_NAME, ACCOUNT_KEY)
    async with StorageQueueChannel(azurite.queue_endpoint, queue_name, credential) as channel:
        sent = envelopes("o-1", 1)
        await channel.publish(sent)
        async with _receiver(channel) as receiver:
            (message,) = await receive_until(receiver)
            assert message.envelope == sent[0]
            await message.complete()
        assert ACCOUNT_KEY not in repr(channel)


class _receiver:
    """`async with _receiver(channel, ...) as receiver`: a receiver closed on exit."""

    def __init__(self, channel: StorageQueueChannel, **options: timedelta | int) -> None:
        self._receiver = channel.receiver(**options)  # type: ignore[arg-type]

    async def __aenter__(self) -> ChannelReceiver:
        return self._receiver

    async def __aexit__(self, *exc_info: object) -> None:
        await self._receiver.close()
