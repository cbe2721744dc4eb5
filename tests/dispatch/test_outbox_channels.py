"""The outbox with channels that refuse or are unreachable: the events wait, and go out later."""

from __future__ import annotations

import logging
import socket
from datetime import timedelta

import pytest

from messagehandler import AggregateRepository, InMemoryEventSource
from messagehandler.channels import CloudEvent
from messagehandler.channels.dispatcher import Dispatcher
from messagehandler.channels.relay import OutboxRelay
from messagehandler.channels.streaming.eventhubs import EventHubChannel
from messagehandler.channels.volatile import InProcessChannel
from messagehandler.eventsource.outbox import Outbox
from samples.organization import Organization
from tests.channels.eventhubs.conftest import HUB
from tests.support.amqp_broker import AmqpTestBroker
from tests.support.amqp_broker.fixtures import broker, broker_options

STRANDED = timedelta(0)
"""The relay's `min_age` here: these tests strand outbox rows themselves and relay them at once."""

__all__ = ["broker", "broker_options"]


async def flush_new(repository: AggregateRepository, org_id: str, name: str) -> None:
    org = Organization(org_id)
    org.register(name)
    repository.add(org)
    await repository.flush()


async def pending(source: Outbox) -> list[tuple[str, int, int]]:
    return [(e.stream_id, e.from_version, e.to_version) async for e in source.pending("Organization")]


async def test_an_envelope_over_the_channel_limit_stays_in_the_outbox(caplog: pytest.LogCaptureFixture) -> None:
    source = InMemoryEventSource(outbox=True)
    small = InProcessChannel("small", max_message_bytes=400)
    dispatcher = Dispatcher().add_channel(small).route("Organization").to("small")

    with caplog.at_level(logging.WARNING, "messagehandler.dispatch"):
        await flush_new(AggregateRepository(source, dispatcher=dispatcher), "acme", "A" * 500)

    assert await pending(source) == [("acme", 1, 1)]
    assert "over the 400-byte limit of channel 'small'" in caplog.text
    assert len(await source.load("Organization", "acme")) == 1


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_streaming_channel_that_is_down_delays_delivery_and_loses_nothing(broker: AmqpTestBroker) -> None:
    source = InMemoryEventSource(outbox=True)
    down_conn = broker.connection_string().replace(f":{broker.port}", f":{closed_port()}")
    down = EventHubChannel.from_connection_string(down_conn, eventhub_name=HUB, retry_total=0)
    await flush_new(
        AggregateRepository(source, dispatcher=Dispatcher().add_channel(down).route("Organization").to(HUB)),
        "acme",
        "Acme",
    )
    await down.close()
    assert await pending(source) == [("acme", 1, 1)]

    up = EventHubChannel.from_connection_string(broker.connection_string(), eventhub_name=HUB, retry_total=0)
    report = await OutboxRelay(
        source, Dispatcher().add_channel(up).route("Organization").to(HUB), min_age=STRANDED
    ).run_once()
    await up.close()

    assert (report.published, report.cleared) == (1, 1)
    stored = await source.load("Organization", "acme")
    assert [CloudEvent.from_json(d.message.body).id for d in broker.delivered(HUB)] == [stored[0].metadata.event_id]
    assert await pending(source) == []
