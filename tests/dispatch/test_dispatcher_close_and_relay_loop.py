"""Dispatcher.close and the redaction of foreign channel errors; the relay's run loop over passes that fail."""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from typing import Any

import pytest

from messagehandler import AggregateRepository, InMemoryEventSource
from messagehandler.channels import ChannelError, ChannelKind, CloudEvent
from messagehandler.channels.dispatcher import Dispatcher
from messagehandler.channels.relay import OutboxRelay
from messagehandler.channels.volatile import InProcessChannel
from messagehandler.errors import ConfigurationError
from messagehandler.eventsource.outbox import OutboxEntry
from tests.dispatch.test_outbox_delivery import captured, pending, register

STRANDED = timedelta(0)
"""The relay's `min_age` here: these tests strand outbox rows themselves and relay them at once."""

SECRET = "c2VjcmV0LWtleS10aGF0LW11c3Qtbm90LWxlYWs="


class Foreign:
    """A third-party channel that fails with a raw exception holding a key, as an SDK error might."""

    kind = ChannelKind.VOLATILE
    max_message_bytes = 1 << 20

    def __init__(self, name: str, *, fail_publishes: int = 1_000_000, fail_close: bool = False) -> None:
        self.name = name
        self.fail_publishes = fail_publishes
        self.fail_close = fail_close
        self.published: list[CloudEvent] = []
        self.arrived = asyncio.Event()
        self.closed = 0

    async def publish(self, envelopes: Sequence[CloudEvent]) -> None:
        if self.fail_publishes > 0:
            self.fail_publishes -= 1
            raise RuntimeError(f"connect failed; Endpoint=sb://x/;SharedAccessKey={SECRET}")
        self.published.extend(envelopes)
        self.arrived.set()

    async def close(self) -> None:
        self.closed += 1
        if self.fail_close:
            raise OSError(f"close failed: AccountKey={SECRET}")


def chain_text(error: BaseException) -> str:
    return "".join(traceback.format_exception(error))


async def test_close_closes_every_channel_and_raises_the_first_failure_redacted() -> None:
    first, second, healthy = Foreign("first", fail_close=True), Foreign("second", fail_close=True), Foreign("ok")
    dispatcher = Dispatcher().add_channel(first).add_channel(healthy).add_channel(second)

    with pytest.raises(ChannelError, match="closing channel 'first'") as raised:
        await dispatcher.close()

    assert (first.closed, healthy.closed, second.closed) == (1, 1, 1)
    assert any("'second'" in note for note in raised.value.__notes__)
    assert SECRET not in chain_text(raised.value)
    assert "AccountKey=***" in str(raised.value)


async def test_close_passes_a_channel_error_through_unchanged() -> None:
    class Refusing(Foreign):
        async def close(self) -> None:
            raise ChannelError("closing refused")

    dispatcher = Dispatcher().add_channel(Refusing("r"))

    with pytest.raises(ChannelError, match=r"^closing refused$"):
        await dispatcher.close()


async def test_a_foreign_publish_failure_becomes_a_redacted_channel_error_and_the_others_still_publish() -> None:
    broken, other, live = Foreign("broken"), Foreign("other"), InProcessChannel("live")
    seen = captured(live)
    dispatcher = (
        Dispatcher()
        .add_channel(broken)
        .add_channel(other)
        .add_channel(live)
        .route("Organization")
        .to("broken", "other", "live")
    )
    source = InMemoryEventSource(outbox=True)

    await register(AggregateRepository(source, dispatcher=dispatcher), "acme")

    assert [e.stream_id for e in seen] == ["acme"]
    assert await pending(source) == [("acme", 1, 1)]
    with pytest.raises(ChannelError, match=r"publishing to channel '(broken|other)'") as raised:
        await dispatcher.publish(await source.load("Organization", "acme"))
    named = {"broken", "other"} - {"broken" if "'broken'" in str(raised.value) else "other"}
    assert any(f"'{named.pop()}'" in note for note in raised.value.__notes__)
    assert SECRET not in chain_text(raised.value)


class FailingPending(InMemoryEventSource):
    """An outbox whose listing fails on its first `fail` calls: a store that is briefly unreachable."""

    def __init__(self, fail: int) -> None:
        super().__init__(outbox=True)
        self.fail = fail

    async def pending(self, stream_type: str) -> AsyncIterator[OutboxEntry]:  # type: ignore[override]
        if self.fail > 0:
            self.fail -= 1
            raise ConnectionError("store unreachable")
        async for entry in super().pending(stream_type):
            yield entry


async def test_the_run_loop_survives_failing_passes_and_stops_when_told(caplog: pytest.LogCaptureFixture) -> None:
    source = FailingPending(fail=2)
    await register(AggregateRepository(source, dispatcher=Dispatcher().route("Organization").to("nowhere")), "acme")
    channel = Foreign("live", fail_publishes=1)
    relay = OutboxRelay(source, Dispatcher().add_channel(channel).route("Organization").to("live"), min_age=STRANDED)
    stop = asyncio.Event()
    caplog.set_level(logging.WARNING, "messagehandler.relay")

    running = asyncio.create_task(relay.run(interval=0.01, stop=stop))
    await asyncio.wait_for(channel.arrived.wait(), 5)
    stop.set()
    await asyncio.wait_for(running, 5)

    assert [e.stream_id for e in channel.published] == ["acme"]
    assert await pending(source) == []
    assert caplog.text.count("outbox relay pass failed") == 2
    assert "relay could not publish Organization/acme" in caplog.text
    assert SECRET not in caplog.text


def test_the_relay_needs_stream_types_when_a_route_takes_every_type() -> None:
    with pytest.raises(ConfigurationError, match="stream types"):
        OutboxRelay(InMemoryEventSource(outbox=True), Dispatcher().route().to("x"), min_age=STRANDED)


async def test_run_once_reports_each_entry(monkeypatch: Any) -> None:
    source = InMemoryEventSource(outbox=True)
    await register(AggregateRepository(source, dispatcher=Dispatcher().route("Organization").to("nowhere")), "a")
    await register(AggregateRepository(source, dispatcher=Dispatcher().route("Organization").to("nowhere")), "b")
    channel = Foreign("live", fail_publishes=1)

    report = await OutboxRelay(
        source, Dispatcher().add_channel(channel).route("Organization").to("live"), min_age=STRANDED
    ).run_once()

    assert (report.entries, report.failed, report.published, report.cleared) == (2, 1, 1, 1)
