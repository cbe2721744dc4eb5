"""The relay leaves alone outbox entries young enough to belong to a flush still publishing them.

Without the rule a relay pass that meets a flush in the middle of publishing delivers its events a
second time (in a soak, most duplicate deliveries came from exactly that); with it, the pass leaves
the entry to the flush. An entry nobody is publishing (the writer crashed) is relayed once it is old
enough. Runs against every event source with an outbox.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from messagehandler import AggregateRepository, Event, EventSource
from messagehandler.channels import CloudEvent
from messagehandler.channels.dispatcher import Dispatcher
from messagehandler.channels.protocol import ChannelKind
from messagehandler.channels.relay import OutboxRelay, RelayReport
from messagehandler.errors import ConfigurationError
from messagehandler.eventsource.outbox import DeferredClearing, Outbox
from samples.organization import Organization

ORG = "Organization"


class GatedChannel:
    """A channel whose first publish holds until the test opens the gate: a flush still publishing."""

    kind = ChannelKind.VOLATILE
    max_message_bytes = 1_000_000

    def __init__(self) -> None:
        self.name = "live"
        self.delivered: list[str] = []
        self.publishing = asyncio.Event()
        self.gate = asyncio.Event()

    async def publish(self, envelopes: Sequence[CloudEvent]) -> None:
        if not self.publishing.is_set():
            self.publishing.set()
            await self.gate.wait()
        self.delivered.extend(envelope.id for envelope in envelopes)

    async def close(self) -> None:
        return None


async def flush_in_flight(source: EventSource, channel: GatedChannel) -> asyncio.Task[list[Event]]:
    repository = AggregateRepository(source, dispatcher=Dispatcher().add_channel(channel).route(ORG).to("live"))
    org = Organization("acme")
    org.register("Acme")
    repository.add(org)
    flushing = asyncio.ensure_future(repository.flush())
    await asyncio.wait_for(channel.publishing.wait(), 10)  # committed, and publishing
    return flushing


async def settled(source: EventSource) -> list[str]:
    assert isinstance(source, Outbox)
    assert isinstance(source, DeferredClearing)
    await source.cleared()
    return [entry.stream_id async for entry in source.pending(ORG)]


async def test_without_the_age_rule_a_relay_pass_duplicates_a_flush_in_flight(outbox_source: EventSource) -> None:
    channel = GatedChannel()
    flushing = await flush_in_flight(outbox_source, channel)

    report = await OutboxRelay(
        outbox_source, Dispatcher().add_channel(channel).route(ORG).to("live"), min_age=timedelta(0)
    ).run_once()
    channel.gate.set()
    await flushing

    (event_id,) = {e.metadata.event_id for e in await outbox_source.load(ORG, "acme")}
    assert (report.published, report.young) == (1, 0)
    assert channel.delivered == [event_id, event_id]


async def test_with_the_age_rule_a_relay_pass_leaves_a_flush_in_flight_alone(outbox_source: EventSource) -> None:
    channel = GatedChannel()
    flushing = await flush_in_flight(outbox_source, channel)

    report = await OutboxRelay(outbox_source, Dispatcher().add_channel(channel).route(ORG).to("live")).run_once()
    channel.gate.set()
    await flushing

    (event_id,) = {e.metadata.event_id for e in await outbox_source.load(ORG, "acme")}
    assert (report.entries, report.young, report.published) == (1, 1, 0)
    assert channel.delivered == [event_id]
    assert await settled(outbox_source) == []


async def strand(source: EventSource) -> tuple[GatedChannel, Dispatcher]:
    """An entry a writer left (it crashed before publishing), and a dispatcher that publishes at once."""
    repository = AggregateRepository(source)
    org = Organization("acme")
    org.register("Acme")
    repository.add(org)
    await repository.flush()
    channel = GatedChannel()
    channel.publishing.set()  # no hold: nothing else is publishing
    return channel, Dispatcher().add_channel(channel).route(ORG).to("live")


async def relayed_when_old(relay: OutboxRelay) -> RelayReport:
    """Relay passes until one publishes (the entry aged past `min_age` on the clock that measures it)."""
    deadline = asyncio.get_running_loop().time() + 30
    while (report := await relay.run_once()).published == 0:
        assert report.young == 1
        assert asyncio.get_running_loop().time() < deadline, "the entry never got old enough"
        await asyncio.sleep(0.05)
    return report


async def test_a_stranded_entry_is_relayed_once_it_is_old_enough(outbox_source: EventSource) -> None:
    channel, dispatcher = await strand(outbox_source)

    young = await OutboxRelay(outbox_source, dispatcher).run_once()
    old = await relayed_when_old(OutboxRelay(outbox_source, dispatcher, min_age=timedelta(seconds=1)))
    again = await OutboxRelay(outbox_source, dispatcher).run_once()

    assert (young.young, young.published) == (1, 0)
    assert (old.young, old.published, old.cleared) == (0, 1, 1)
    assert again.entries == 0
    assert channel.delivered == [e.metadata.event_id for e in await outbox_source.load(ORG, "acme")]


SKEW = timedelta(hours=1)


@pytest.mark.azurite
async def test_a_relay_whose_clock_runs_ahead_leaves_a_flush_in_flight_alone(
    make_table_source: Callable[..., EventSource],
) -> None:
    source = make_table_source(outbox=True)
    channel = GatedChannel()
    flushing = await flush_in_flight(source, channel)

    ahead = OutboxRelay(source, Dispatcher().add_channel(channel).route(ORG).to("live"), clock=_skewed(SKEW))
    report = await ahead.run_once()
    channel.gate.set()
    await flushing

    assert (report.entries, report.young, report.published) == (1, 1, 0)
    assert len(channel.delivered) == 1
    assert await settled(source) == []


@pytest.mark.azurite
async def test_a_relay_whose_clock_runs_behind_relays_a_stranded_entry_once_it_is_old(
    make_table_source: Callable[..., EventSource],
) -> None:
    source = make_table_source(outbox=True)
    channel, dispatcher = await strand(source)

    behind = OutboxRelay(source, dispatcher, min_age=timedelta(seconds=1), clock=_skewed(-SKEW))
    report = await relayed_when_old(behind)

    assert (report.published, report.cleared) == (1, 1)
    assert channel.delivered == [e.metadata.event_id for e in await source.load(ORG, "acme")]


def _skewed(by: timedelta) -> Callable[[], datetime]:
    return lambda: datetime.now(UTC) + by


def test_the_minimum_age_cannot_be_negative(outbox_source: EventSource) -> None:
    with pytest.raises(ConfigurationError, match="min_age"):
        OutboxRelay(outbox_source, Dispatcher().route(ORG).to("x"), min_age=timedelta(seconds=-1))
