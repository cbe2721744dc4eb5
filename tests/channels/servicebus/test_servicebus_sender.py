"""What the Service Bus channel puts on the wire, seen by the broker the real SDK talks to."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from messagehandler.channels import ChannelKind, EnvelopeTooLargeError
from messagehandler.channels.transactional.servicebus import ServiceBusChannel, encoded_size
from messagehandler.channels.transactional.servicebus_messages import to_message
from tests.channels.servicebus.conftest import QUEUE
from tests.channels.support import envelopes, interleaved, with_wire_size
from tests.support.amqp_broker import AmqpTestBroker

MakeChannel = Callable[..., ServiceBusChannel]


def wire_size(envelope: Any) -> int:
    return encoded_size(to_message(envelope, sessions=False))


async def test_a_batch_arrives_as_one_transfer_with_every_message_mapped(
    broker: AmqpTestBroker, make_channel: MakeChannel
) -> None:
    channel = make_channel()
    sent = interleaved(envelopes("o-1", 2), envelopes("o-2", 1))

    await channel.publish(sent)

    assert len(broker.transfer_sizes(QUEUE)) == 1
    arrived = [delivered.message for delivered in broker.delivered(QUEUE)]
    assert [message.id for message in arrived] == [envelope.id for envelope in sent]
    for message, envelope in zip(arrived, sent, strict=True):
        assert message.subject == envelope.type
        assert message.group_id is None
        assert message.content_type == "application/json"
        assert message.correlation_id == "corr-1"
        assert json.loads(message.body) == json.loads(envelope.data)
        expected = {f"cloudEvents_{name}": value for name, value in envelope.attributes().items()}
        del expected["cloudEvents_datacontenttype"]
        assert message.properties == expected
    assert broker.tokens() == [f"sb://127.0.0.1:{broker.port}/{QUEUE}"]
    assert channel.kind is ChannelKind.TRANSACTIONAL


async def test_with_sessions_the_session_is_the_stream_and_batches_never_mix_sessions(
    broker: AmqpTestBroker, make_channel: MakeChannel
) -> None:
    channel = make_channel(sessions=True)
    sent = [*envelopes("o-1", 2), *envelopes("o-2", 3), *envelopes("o-1", 1, start=3)]

    await channel.publish(sent)

    arrived = broker.delivered(QUEUE)
    assert [(d.message.id, d.message.group_id) for d in arrived] == [(e.id, e.stream_id) for e in sent]
    assert [d.transfer for d in arrived] == [1, 1, 2, 2, 2, 3]


@pytest.mark.parametrize("broker_options", [{"max_message_size": 4096, "max_batch_size": 4096}])
async def test_a_full_batch_is_sent_and_the_next_one_started(broker: AmqpTestBroker, make_channel: MakeChannel) -> None:
    channel = make_channel()
    sent = envelopes("o-1", 12, note="x" * 600)

    await channel.publish(sent)

    sizes = broker.transfer_sizes(QUEUE)
    assert len(sizes) >= 3
    assert max(sizes) <= 4096
    assert [d.message.id for d in broker.delivered(QUEUE)] == [e.id for e in sent]


@pytest.mark.parametrize("broker_options", [{"max_message_size": 4096, "max_batch_size": 4096}])
async def test_an_oversize_envelope_fails_the_call_before_anything_is_sent(
    broker: AmqpTestBroker, make_channel: MakeChannel
) -> None:
    channel = make_channel()
    oversize = with_wire_size(envelopes("o-2", 1)[0], 4097, wire_size)

    with pytest.raises(EnvelopeTooLargeError) as raised:
        await channel.publish([*envelopes("o-1", 2), oversize])

    assert (raised.value.event_id, raised.value.size, raised.value.limit) == (oversize.id, 4097, 4096)
    assert broker.transfer_sizes(QUEUE) == []
    at_limit = with_wire_size(envelopes("o-3", 1)[0], 4096, wire_size)
    await channel.publish([at_limit])
    assert [d.message.id for d in broker.delivered(QUEUE)] == [at_limit.id]


async def test_the_configured_limit_applies_when_lower_than_the_entity_limit(
    broker: AmqpTestBroker, make_channel: MakeChannel
) -> None:
    channel = make_channel(max_message_bytes=2048)
    oversize = with_wire_size(envelopes("o-1", 1)[0], 2049, wire_size)

    with pytest.raises(EnvelopeTooLargeError) as raised:
        await channel.publish([oversize])

    assert raised.value.limit == 2048 == channel.max_message_bytes
    assert broker.transfer_sizes(QUEUE) == []


async def test_a_topic_reaches_its_subscriptions(broker: AmqpTestBroker, make_channel: MakeChannel) -> None:
    broker.add_subscription("events", "billing")
    channel = make_channel(topic_name="events")
    sent = envelopes("o-1", 2)

    await channel.publish(sent)

    assert [d.message.id for d in broker.delivered("events")] == [e.id for e in sent]
    receiver = channel.receiver("billing")
    try:
        received = await receiver.receive(10)
        assert [message.envelope for message in received] == sent
    finally:
        await receiver.close()


async def test_integers_go_out_as_amqp_long_and_strings_as_amqp_string(
    broker: AmqpTestBroker, make_channel: MakeChannel
) -> None:
    from proton import int32

    await make_channel().publish(envelopes("o-1", 1))

    (delivered,) = broker.delivered(QUEUE)
    properties = delivered.message.properties
    for name in ("cloudEvents_streamversion", "cloudEvents_schemaversion"):
        assert type(properties[name]) is int, f"{name} is {type(properties[name]).__name__}, not an AMQP long"
        assert not isinstance(properties[name], int32)
    assert {type(value) for name, value in properties.items() if "version" not in name} == {str}
