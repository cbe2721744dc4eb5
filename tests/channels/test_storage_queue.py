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

from messagehandler.channels import ChannelError, ChannelKind, ChannelReceiver, CloudEvent, ReceivedMessage
from messagehandler.channels.errors import ChannelConfigurationError, MessageLockLostError
from messagehandler.channels.transactional.storage_queue import StorageQueueChannel
from messagehandler.channels.transactional.storage_queue_clients import QueueEncoding
from tests.channels.malformed import malformed_bodies
from tests.channels.support import envelopes, interleaved, with_wire_size

if TYPE_CHECKING:
    from azure.storage.queue.aio import QueueClient

    from messagehandler.testing.azurite import AzuriteProcess
    from tests.support.fault_proxy import FaultProxy

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


async def receive_all(receiver: ChannelReceiver, count: int, *, within: float = 15.0) -> list[ReceivedMessage]:
    """Receive and complete until `count` messages arrived; fail on fewer by the deadline."""
    received = await receive_until(receiver, count, within=within)
    for message in received:
        await message.complete()
    return received


@pytest.mark.parametrize(
    "bad_text",
    [
        pytest.param("this is not base64 !!!", id="not-base64"),
        *(
            pytest.param(base64.b64encode(body).decode(), id=name)
            for name, body in malformed_bodies(envelopes("template", 1)[0]).items()
        ),
    ],
)
async def test_a_message_that_cannot_be_decoded_goes_to_the_poison_queue_and_the_rest_are_received(
    make_queue_channel: MakeChannel, raw_queue: Callable[[str], QueueClient], queue_name: str, bad_text: str
) -> None:
    channel = make_queue_channel()
    before, after, later = envelopes("o-1", 3), envelopes("o-1", 3, start=4), envelopes("o-1", 3, start=7)
    await channel.publish(before)
    await raw_queue(queue_name).send_message(bad_text)
    await channel.publish(after)
    async with _receiver(channel, max_delivery_count=5) as receiver:
        first = await receive_all(receiver, 6)
        await channel.publish(later)
        second = await receive_all(receiver, 3)
        assert await receiver.receive(wait=timedelta(milliseconds=300)) == []

    assert sorted(m.envelope.stream_version for m in first + second) == list(range(1, 10))
    assert {m.delivery_count for m in first + second} == {1}, "a good message was redelivered"
    poisoned = await raw_queue(f"{queue_name}-poison").peek_messages(max_messages=32)
    assert [m.content for m in poisoned] == [bad_text], "the poison queue must hold the message text unchanged"


async def test_text_and_base64_messages_are_both_read_whatever_the_encoding(
    make_queue_channel: MakeChannel, raw_queue: Callable[[str], QueueClient], queue_name: str
) -> None:
    as_text, as_base64 = envelopes("o-1", 2)
    channel = make_queue_channel(encoding=QueueEncoding.TEXT)
    await raw_queue(queue_name).create_queue()
    await raw_queue(queue_name).send_message(as_text.to_json())
    await raw_queue(queue_name).send_message(base64.b64encode(as_base64.to_bytes()).decode())
    async with _receiver(channel) as receiver:
        received = await receive_all(receiver, 2)

    assert sorted(m.envelope.stream_version for m in received) == [1, 2]


async def test_a_failed_move_to_the_poison_queue_does_not_hold_back_the_good_messages_of_its_batch(
    make_queue_channel: MakeChannel,
    raw_queue: Callable[[str], QueueClient],
    queue_name: str,
    queue_proxy: FaultProxy,
    azurite: AzuriteProcess,
) -> None:
    from tests.support.fault_proxy import Fault

    await make_queue_channel().publish(envelopes("o-1", 2))
    await raw_queue(queue_name).send_message("not base64 !!!")
    await raw_queue(f"{queue_name}-poison").create_queue()
    proxied = StorageQueueChannel.from_connection_string(
        queue_proxy.rewrite(azurite.connection_string), queue_name, retry_total=0
    )
    receiver = proxied.receiver(visibility_timeout=timedelta(seconds=2))
    try:
        queue_proxy.inject(Fault.RESET_REQUEST, match=b"-poison/messages", times=1)
        good = await receiver.receive(32, wait=timedelta(seconds=5))
        assert sorted(m.envelope.stream_version for m in good) == [1, 2], "the good messages were held back"
        for message in good:
            await message.complete()
        # the bad one stayed hidden; on its next delivery the move succeeds
        assert await receiver.receive(32, wait=timedelta(seconds=6)) == []
    finally:
        await receiver.close()
        await proxied.close()
    poisoned = await raw_queue(f"{queue_name}-poison").peek_messages(max_messages=32)
    assert [m.content for m in poisoned] == ["not base64 !!!"]


def test_the_receiver_says_its_kind(make_queue_channel: MakeChannel) -> None:
    from messagehandler.processing import channel_source

    receiver = make_queue_channel().receiver()

    assert receiver.kind is ChannelKind.TRANSACTIONAL
    assert channel_source(receiver).kind is ChannelKind.TRANSACTIONAL


@pytest.mark.parametrize("kind", ["named-key", "sas"])
async def test_credential_objects_stay_out_of_errors_and_reprs(kind: str, caplog: pytest.LogCaptureFixture) -> None:
    from azure.core.credentials import AzureNamedKeyCredential, AzureSasCredential

    from messagehandler.channels.errors import ChannelUnavailableError

    secret = FAKE_KEY if kind == "named-key" else "sv=2024-01-01&sig=" + FAKE_KEY
    credential = AzureNamedKeyCredential("acct", FAKE_KEY) if kind == "named-key" else AzureSasCredential(secret)
    caplog.set_level(logging.DEBUG)
    channel = StorageQueueChannel("http://127.0.0.1:9/acct", "orders", credential, retry_total=0)
    try:
        with pytest.raises(ChannelUnavailableError) as raised:
            await channel.publish(envelopes("o-1", 1))
    finally:
        await channel.close()

    for text in ("".join(traceback.format_exception(raised.value)), repr(channel), caplog.text):
        assert FAKE_KEY not in text
    masked = channel._clients.secrets  # what every error of the channel and its receiver is redacted with
    assert FAKE_KEY in masked or secret in masked
    rotated = "cm90YXRlZC1rZXktdGhhdC1tdXN0LWJlLW1hc2tlZA=="
    if isinstance(credential, AzureNamedKeyCredential):
        credential.update("acct", rotated)
    else:
        credential.update(rotated)
    assert rotated in channel._clients.secrets, "a rotated key would leak"
