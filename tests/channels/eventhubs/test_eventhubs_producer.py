"""What the Event Hubs channel sends: batches by size, partitioned by stream, seen by the broker."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from proton import symbol

from messagehandler.channels import ChannelKind, CloudEvent, EnvelopeTooLargeError
from messagehandler.channels.streaming.eventhubs import EventHubChannel, encoded_size, to_event_data
from tests.channels.eventhubs.conftest import HUB
from tests.channels.support import envelopes, interleaved, with_wire_size
from tests.support.amqp_broker import AmqpTestBroker

MakeChannel = Callable[..., EventHubChannel]
PARTITION_KEY = symbol("x-opt-partition-key")
LIMITED = {"max_message_size": 4096}


def wire_size(envelope: CloudEvent) -> int:
    return encoded_size(to_event_data(envelope), envelope.stream_id)


async def test_each_event_carries_its_envelope_and_its_stream_as_partition_key(
    broker: AmqpTestBroker, make_channel: MakeChannel
) -> None:
    channel = make_channel()
    sent = [*envelopes("o-1", 2), *envelopes("o-2", 1)]

    await channel.publish(sent)

    arrived = broker.delivered(HUB)
    assert [CloudEvent.from_json(d.message.body) for d in arrived] == sent
    assert [d.envelope_annotations[PARTITION_KEY] for d in arrived] == ["o-1", "o-1", "o-2"]
    assert [d.transfer for d in arrived] == [1, 1, 2]
    first = arrived[0].message
    assert first.content_type.startswith("application/cloudevents+json")
    assert first.id == sent[0].id
    assert first.properties["cloudEvents_type"] == "messagehandler.testing.ItemAdded"
    assert first.properties["cloudEvents_streamversion"] == 1
    assert broker.tokens() == [f"sb://127.0.0.1:{broker.port}/{HUB}"]
    assert channel.kind is ChannelKind.STREAMING


async def test_interleaved_streams_keep_their_order_and_their_key(
    broker: AmqpTestBroker, make_channel: MakeChannel
) -> None:
    first, second = envelopes("o-1", 3), envelopes("o-2", 3)

    await make_channel().publish(interleaved(first, second))

    arrived = broker.delivered(HUB)
    for stream in (first, second):
        mine = [d for d in arrived if d.envelope_annotations[PARTITION_KEY] == stream[0].stream_id]
        assert [CloudEvent.from_json(d.message.body).id for d in mine] == [e.id for e in stream]


@pytest.mark.parametrize("broker_options", [LIMITED])
async def test_a_full_batch_is_sent_and_the_next_one_started(broker: AmqpTestBroker, make_channel: MakeChannel) -> None:
    sent = envelopes("o-1", 12, note="x" * 600)

    await make_channel().publish(sent)

    sizes = broker.transfer_sizes(HUB)
    assert len(sizes) >= 3
    assert max(sizes) <= 4096
    assert [CloudEvent.from_json(d.message.body).id for d in broker.delivered(HUB)] == [e.id for e in sent]
    assert {d.envelope_annotations[PARTITION_KEY] for d in broker.delivered(HUB)} == {"o-1"}


@pytest.mark.parametrize("broker_options", [LIMITED])
async def test_an_oversize_envelope_fails_the_call_before_anything_is_sent(
    broker: AmqpTestBroker, make_channel: MakeChannel
) -> None:
    channel = make_channel()
    oversize = with_wire_size(envelopes("o-2", 1)[0], 4097, wire_size)

    with pytest.raises(EnvelopeTooLargeError) as raised:
        await channel.publish([*envelopes("o-1", 2), oversize])

    assert (raised.value.event_id, raised.value.size, raised.value.limit) == (oversize.id, 4097, 4096)
    assert broker.transfer_sizes(HUB) == []
    at_limit = with_wire_size(envelopes("o-3", 1)[0], 4096, wire_size)
    await channel.publish([at_limit])
    assert len(broker.delivered(HUB)) == 1


async def test_the_stream_version_property_is_an_amqp_long(broker: AmqpTestBroker, make_channel: MakeChannel) -> None:
    await make_channel().publish(envelopes("o-1", 1))

    (delivered,) = broker.delivered(HUB)
    assert type(delivered.message.properties["cloudEvents_streamversion"]) is int
