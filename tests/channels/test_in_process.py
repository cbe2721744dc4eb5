"""In-process channel: push to subscribers, a bounded buffer for a receiver, nothing kept."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest

from messagehandler.channels import ChannelError, ChannelReceiver, CloudEvent
from messagehandler.channels.volatile import InProcessChannel
from tests.channels.support import envelopes


async def test_subscribers_see_every_envelope_in_publish_order() -> None:
    channel = InProcessChannel()
    seen: dict[str, list[CloudEvent]] = {"a": [], "b": []}
    for name in seen:
        channel.subscribe(lambda envelope, name=name: _append(seen[name], envelope))
    sent = envelopes("o-1", 4)

    await channel.publish(sent)

    assert seen == {"a": sent, "b": sent}


async def test_a_failing_subscriber_does_not_stop_the_others(caplog: pytest.LogCaptureFixture) -> None:
    channel = InProcessChannel("local")
    seen: list[CloudEvent] = []

    async def broken(envelope: CloudEvent) -> None:
        raise RuntimeError("boom")

    channel.subscribe(broken)
    channel.subscribe(lambda envelope: _append(seen, envelope))
    sent = envelopes("o-1", 2)

    with caplog.at_level(logging.ERROR):
        await channel.publish(sent)

    assert seen == sent
    assert "'local'" in caplog.text
    assert sent[0].id in caplog.text


async def test_a_cancelled_subscription_receives_nothing_more() -> None:
    channel = InProcessChannel()
    seen: list[CloudEvent] = []
    subscription = channel.subscribe(lambda envelope: _append(seen, envelope))
    first, second = envelopes("o-1", 2)
    await channel.publish([first])

    subscription.cancel()
    subscription.cancel()
    await channel.publish([second])

    assert seen == [first]


async def test_receive_waits_for_a_publish() -> None:
    channel = InProcessChannel()
    assert isinstance(channel, ChannelReceiver)
    sent = envelopes("o-1", 3)
    waiting = asyncio.create_task(channel.receive(10, wait=timedelta(seconds=10)))
    await asyncio.sleep(0)

    await channel.publish(sent)

    received = await asyncio.wait_for(waiting, 5)
    assert [m.envelope for m in received] == sent
    assert [m.delivery_count for m in received] == [1, 1, 1]


async def test_waiting_receivers_get_each_envelope_once_and_the_other_waits_on() -> None:
    channel = InProcessChannel()
    first_waiter = asyncio.create_task(channel.receive(10, wait=timedelta(seconds=10)))
    second_waiter = asyncio.create_task(channel.receive(10, wait=timedelta(seconds=10)))
    await asyncio.sleep(0)
    one, two = envelopes("o-1", 2)

    await channel.publish([one])
    done, pending = await asyncio.wait({first_waiter, second_waiter}, timeout=5, return_when=asyncio.FIRST_COMPLETED)
    await channel.publish([two])
    received = [m.envelope for task in (first_waiter, second_waiter) for m in await asyncio.wait_for(task, 5)]

    assert [m.envelope for task in done for m in task.result()] == [one]
    assert len(pending) == 1
    assert sorted(e.id for e in received) == sorted([one.id, two.id])


async def test_receive_gives_nothing_after_the_wait_and_honours_max_messages() -> None:
    channel = InProcessChannel()
    assert await channel.receive(wait=timedelta(milliseconds=10)) == []
    sent = envelopes("o-1", 5)
    await channel.publish(sent)

    first = await channel.receive(2, wait=timedelta(0))
    rest = await channel.receive(10, wait=timedelta(0))

    assert [m.envelope for m in first + rest] == sent


async def test_a_full_buffer_drops_the_oldest_and_counts_it() -> None:
    channel = InProcessChannel(buffer_size=3)
    sent = envelopes("o-1", 5)

    await channel.publish(sent)

    assert channel.dropped == 2
    assert [m.envelope for m in await channel.receive(10, wait=timedelta(0))] == sent[2:]
    assert "dropped=2" in repr(channel)


async def test_without_a_buffer_only_subscribers_get_envelopes() -> None:
    channel = InProcessChannel(buffer_size=0)
    await channel.publish(envelopes("o-1", 2))
    assert await channel.receive(wait=timedelta(0)) == []
    assert channel.dropped == 0


async def test_settling_is_accepted_and_keeps_nothing(caplog: pytest.LogCaptureFixture) -> None:
    channel = InProcessChannel()
    await channel.publish(envelopes("o-1", 3))
    first, second, third = await channel.receive(3, wait=timedelta(0))

    await first.complete()
    await second.abandon()
    with caplog.at_level(logging.WARNING):
        await third.dead_letter("unreadable")

    assert "unreadable" in caplog.text
    assert await channel.receive(wait=timedelta(0)) == []


async def test_publishing_to_a_closed_channel_fails() -> None:
    channel = InProcessChannel("local")
    await channel.close()
    with pytest.raises(ChannelError, match="'local' is closed"):
        await channel.publish(envelopes("o-1", 1))


async def _append(seen: list[CloudEvent], envelope: CloudEvent) -> None:
    seen.append(envelope)
