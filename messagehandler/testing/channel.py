"""The Channel contract as a base class: subclass it and every test below runs against your channel.

    class TestMyChannel(ChannelContract):
        @asynccontextmanager
        async def channel_under_test(self) -> AsyncIterator[ChannelUnderTest]:
            channel = MyChannel(..., max_message_bytes=16 * 1024)
            receiver = channel.receiver()
            try:
                yield ChannelUnderTest(channel, receiver_probe(receiver), ChannelKind.TRANSACTIONAL)
            finally:
                await receiver.close()
                await channel.close()

The probe looks at the channel's far end: `probe(expected, wait)` returns what arrived, in arrival order,
once `expected` envelopes arrived or `wait` seconds ran out. `receiver_probe` fits any channel with a
`ChannelReceiver`; for one read some other way (an HTTP endpoint, a broker), write a probe returning
`Arrived` tuples. Make `max_message_bytes` at least 4 KiB and at most 256 KiB (the suite fills one
envelope to the limit), and pass `wire_size=` when the channel measures envelopes other than as
structured-mode JSON. Fixtures the channel needs reach it through an autouse fixture method storing them
on `self`.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from datetime import timedelta

from messagehandler.channels.envelope import CloudEvent
from messagehandler.channels.errors import ChannelClosedError, EnvelopeTooLargeError
from messagehandler.channels.protocol import Channel, ChannelKind, ChannelReceiver
from messagehandler.testing._pytest import pytest, pytest_asyncio
from messagehandler.testing.envelopes import (
    Arrived,
    envelopes,
    interleaved,
    structured_size,
    trace_context,
    with_wire_size,
)

Probe = Callable[[int, float], Awaitable[list[Arrived]]]
"""`probe(expected, wait_seconds)`: what arrived, in arrival order, once `expected` arrived or `wait` ran out."""


@dataclass
class ChannelUnderTest:
    """The channel, a probe of its far end, and what the suite must expect of it."""

    channel: Channel
    probe: Probe
    kind: ChannelKind
    wire_size: Callable[[CloudEvent], int] = structured_size
    """How the channel measures an envelope against `max_message_bytes`."""


def receiver_probe(receiver: ChannelReceiver) -> Probe:
    """Receive and complete until `expected` envelopes arrived or `wait` ran out."""
    arrived: list[Arrived] = []

    async def probe(expected: int, wait: float) -> list[Arrived]:
        deadline = time.monotonic() + wait
        while len(arrived) < expected and (remaining := deadline - time.monotonic()) > 0:
            for message in await receiver.receive(expected - len(arrived), wait=timedelta(seconds=remaining)):
                arrived.append(Arrived.of(message.envelope))
                await message.complete()
        return list(arrived)

    return probe


def stream_id() -> str:
    return f"o-{uuid.uuid4().hex[:8]}"


class ChannelContract(ABC):
    """What every `Channel` must do: deliver unchanged, keep order per stream, refuse oversize before sending."""

    pytestmark = pytest.mark.asyncio
    wait: float = 10.0
    """Seconds the suite waits for envelopes that must arrive."""
    absence_wait: float = 0.5
    carries_extensions: bool = True
    """Whether CloudEvents extension attributes travel (not with Event Grid's own event schema)."""
    """Seconds the suite waits to be sure that envelopes which must not arrive did not."""

    @abstractmethod
    def channel_under_test(self) -> AbstractAsyncContextManager[ChannelUnderTest]:
        """A new channel and its probe; closes both on exit."""

    @pytest_asyncio.fixture
    async def under_test(self) -> AsyncIterator[ChannelUnderTest]:
        async with self.channel_under_test() as channel_under_test:
            yield channel_under_test

    async def test_reports_its_kind_and_satisfies_the_protocol(self, under_test: ChannelUnderTest) -> None:
        assert isinstance(under_test.channel, Channel)
        assert under_test.channel.kind is under_test.kind
        assert under_test.channel.max_message_bytes > 0
        assert under_test.channel.name

    async def test_every_envelope_arrives_unchanged(self, under_test: ChannelUnderTest) -> None:
        sent = envelopes(stream_id(), 3, note='héllo <&> "quoted"')

        await under_test.channel.publish(sent)

        arrived = await under_test.probe(len(sent), self.wait)
        assert sorted(arrived) == sorted(Arrived.of(envelope) for envelope in sent)

    async def test_the_trace_context_travels_with_each_envelope(self, under_test: ChannelUnderTest) -> None:
        traced = trace_context(stream_id())
        traced[1] = replace(traced[1], tracestate=None)

        await under_test.channel.publish(traced)

        arrived = await under_test.probe(len(traced), self.wait)
        expected = (
            traced if self.carries_extensions else [replace(e, traceparent=None, tracestate=None) for e in traced]
        )
        assert sorted(arrived) == sorted(Arrived.of(envelope) for envelope in expected)

    async def test_order_within_each_stream_is_kept(self, under_test: ChannelUnderTest) -> None:
        first, second, third = (envelopes(stream_id(), 6) for _ in range(3))
        sent = interleaved(first, second, third)

        await under_test.channel.publish(sent)

        arrived = await under_test.probe(len(sent), self.wait)
        assert len(arrived) == len(sent)
        for stream in (first, second, third):
            subject = stream[0].subject
            assert [item.id for item in arrived if item.subject == subject] == [envelope.id for envelope in stream]

    async def test_an_oversize_envelope_fails_the_call_before_anything_is_sent(
        self, under_test: ChannelUnderTest
    ) -> None:
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
        assert await under_test.probe(len(good) + 1, self.absence_wait) == [Arrived.of(sentinel[0])]

    async def test_an_envelope_at_the_limit_is_sent(self, under_test: ChannelUnderTest) -> None:
        limit = under_test.channel.max_message_bytes
        at_limit = with_wire_size(envelopes(stream_id(), 1)[0], limit, under_test.wire_size)

        await under_test.channel.publish([at_limit])

        assert await under_test.probe(1, self.wait) == [Arrived.of(at_limit)]

    async def test_an_empty_publish_sends_nothing(self, under_test: ChannelUnderTest) -> None:
        await under_test.channel.publish([])
        sentinel = envelopes(stream_id(), 1)
        await under_test.channel.publish(sentinel)

        assert await under_test.probe(2, self.absence_wait) == [Arrived.of(sentinel[0])]

    async def test_concurrent_first_publishes_all_arrive(self, under_test: ChannelUnderTest) -> None:
        streams = [envelopes(stream_id(), 2) for _ in range(3)]

        await asyncio.gather(*(under_test.channel.publish(stream) for stream in streams))

        arrived = await under_test.probe(6, self.wait)
        assert sorted(arrived) == sorted(Arrived.of(envelope) for stream in streams for envelope in stream)

    async def test_close_is_idempotent_and_a_closed_channel_refuses_to_publish(
        self, under_test: ChannelUnderTest
    ) -> None:
        await under_test.channel.publish(envelopes(stream_id(), 1))
        await under_test.channel.close()
        await under_test.channel.close()

        with pytest.raises(ChannelClosedError) as raised:
            await under_test.channel.publish(envelopes(stream_id(), 1))
        assert under_test.channel.name in str(raised.value)
