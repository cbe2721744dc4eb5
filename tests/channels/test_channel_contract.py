"""The Channel contract: one suite, run against every channel implementation.

Each test takes `under_test`, a `ChannelUnderTest` with the channel, the kind it must report and
a probe of its far end (a receiver for queues and in-process, the local HTTP endpoint for webhook
and Event Grid). `probe(expected, wait)` returns what arrived, in arrival order.

To add a channel (Service Bus, Event Hubs, ...): in tests/channels/contract_channels.py write an
async context manager `factory(request) -> AsyncIterator[ChannelUnderTest]` that builds the
channel and a probe (`receiver_probe(receiver)` fits anything with a `ChannelReceiver`; else
write one returning `Arrived` tuples), closes both on exit, and append
`pytest.param(factory, id="...", marks=...)` to `CONTRACT_CHANNELS`. Make its
`max_message_bytes` at least 4 KiB and at most 256 KiB (the suite fills one envelope to the
limit), and pass `wire_size=` when the channel measures envelopes other than as structured JSON.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from messagehandler.channels import Channel, EnvelopeTooLargeError
from tests.channels.contract_channels import CONTRACT_CHANNELS, ChannelUnderTest, Factory
from tests.channels.support import Arrived, envelopes, interleaved, with_wire_size

WAIT = 10.0
ABSENCE_WAIT = 0.5


@pytest.fixture(params=CONTRACT_CHANNELS)
async def under_test(request: pytest.FixtureRequest) -> AsyncIterator[ChannelUnderTest]:
    factory: Factory = request.param
    async with factory(request) as channel_under_test:
        yield channel_under_test


def stream_id() -> str:
    return f"o-{uuid.uuid4().hex[:8]}"


async def test_reports_its_kind_and_satisfies_the_protocol(under_test: ChannelUnderTest) -> None:
    assert isinstance(under_test.channel, Channel)
    assert under_test.channel.kind is under_test.kind
    assert under_test.channel.max_message_bytes > 0
    assert under_test.channel.name


async def test_every_envelope_arrives_unchanged(under_test: ChannelUnderTest) -> None:
    sent = envelopes(stream_id(), 3, note='héllo <&> "quoted"')

    await under_test.channel.publish(sent)

    arrived = await under_test.probe(len(sent), WAIT)
    assert sorted(arrived) == sorted(Arrived.of(envelope) for envelope in sent)


async def test_order_within_each_stream_is_kept(under_test: ChannelUnderTest) -> None:
    first, second, third = (envelopes(stream_id(), 6) for _ in range(3))
    sent = interleaved(first, second, third)

    await under_test.channel.publish(sent)

    arrived = await under_test.probe(len(sent), WAIT)
    assert len(arrived) == len(sent)
    for stream in (first, second, third):
        subject = stream[0].subject
        assert [item.id for item in arrived if item.subject == subject] == [envelope.id for envelope in stream]


async def test_an_oversize_envelope_fails_the_call_before_anything_is_sent(under_test: ChannelUnderTest) -> None:
    channel = under_test.channel
    limit = channel.max_message_bytes
    good = envelopes(stream_id(), 2)
    oversize = with_wire_size(envelopes(stream_id(), 1)[0], limit + 1, under_test.wire_size)

    with pytest.raises(EnvelopeTooLargeError) as raised:
        await channel.publish([*good, oversize])

    assert raised.value.channel == channel.name
    assert raised.value.limit == limit
    assert raised.value.event_id == oversize.id
    assert raised.value.size == limit + 1
    assert channel.name in str(raised.value)
    assert str(limit) in str(raised.value)
    sentinel = envelopes(stream_id(), 1)
    await channel.publish(sentinel)
    assert await under_test.probe(len(good) + 1, ABSENCE_WAIT) == [Arrived.of(sentinel[0])]


async def test_an_envelope_at_the_limit_is_sent(under_test: ChannelUnderTest) -> None:
    limit = under_test.channel.max_message_bytes
    at_limit = with_wire_size(envelopes(stream_id(), 1)[0], limit, under_test.wire_size)

    await under_test.channel.publish([at_limit])

    assert await under_test.probe(1, WAIT) == [Arrived.of(at_limit)]


async def test_an_empty_publish_sends_nothing(under_test: ChannelUnderTest) -> None:
    await under_test.channel.publish([])
    sentinel = envelopes(stream_id(), 1)
    await under_test.channel.publish(sentinel)

    assert await under_test.probe(2, ABSENCE_WAIT) == [Arrived.of(sentinel[0])]


async def test_close_is_idempotent(under_test: ChannelUnderTest) -> None:
    await under_test.channel.publish(envelopes(stream_id(), 1))
    await under_test.channel.close()
    await under_test.channel.close()
