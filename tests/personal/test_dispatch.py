"""The dispatcher and the relay publish personal data sealed, or not at all."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from messagehandler import AggregateRepository, EventTypeRegistry, InMemoryEventSource
from messagehandler.channels.dispatcher import Dispatcher
from messagehandler.channels.envelope import CloudEvent
from messagehandler.channels.relay import OutboxRelay
from messagehandler.channels.volatile.in_process import InProcessChannel
from messagehandler.personal import (
    InMemoryKeyStore,
    Keyring,
    LocalKeyEncryptionKey,
    PersonalDataSerializer,
    UnprotectedPersonalDataError,
)
from tests.personal.events import CUSTOMER_TYPES, Customer, CustomerRegistered

STRANDED = timedelta(0)
"""The relay's `min_age` here: these tests strand outbox rows themselves and relay them at once."""

INSTANT = timedelta(milliseconds=10)


def personal() -> PersonalDataSerializer:
    return PersonalDataSerializer(
        Keyring(InMemoryKeyStore(), LocalKeyEncryptionKey.generate()), registry=EventTypeRegistry(CUSTOMER_TYPES)
    )


async def flush_one(source: InMemoryEventSource, dispatcher: Dispatcher | None) -> None:
    repository = AggregateRepository(source, dispatcher=dispatcher)
    customer = Customer("c-1")
    customer.register("Ann Smith", "ann@example.com")
    repository.add(customer)
    await repository.flush()


async def test_a_dispatcher_without_keys_publishes_nothing_and_leaves_the_outbox() -> None:
    serializer = personal()
    source = InMemoryEventSource(serializer=serializer, outbox=True)
    channel = InProcessChannel()
    dispatcher = Dispatcher().add_channel(channel).route("Customer").to(channel.name)

    await flush_one(source, dispatcher)

    assert await channel.receive(wait=INSTANT) == []
    assert [(e.stream_id, e.from_version) async for e in source.pending("Customer")] == [("c-1", 1)]
    with pytest.raises(UnprotectedPersonalDataError, match="PersonalDataSerializer"):
        await dispatcher.publish(await source.load("Customer", "c-1"))


async def test_events_not_routed_are_not_refused() -> None:
    channel = InProcessChannel()
    dispatcher = Dispatcher().add_channel(channel).route("Order").to(channel.name)
    source = InMemoryEventSource(serializer=personal())
    await flush_one(source, None)

    await dispatcher.publish(await source.load("Customer", "c-1"))

    assert await channel.receive(wait=INSTANT) == []


async def test_the_relay_publishes_what_was_left_sealed_with_the_stored_key() -> None:
    serializer = personal()
    source = InMemoryEventSource(serializer=serializer, outbox=True)
    await flush_one(source, None)  # committed, never published: the relay's job
    channel = InProcessChannel()
    dispatcher = Dispatcher(serializer=serializer).add_channel(channel).route("Customer").to(channel.name)

    report = await OutboxRelay(source, dispatcher, min_age=STRANDED).run_once()

    [message] = await channel.receive(wait=INSTANT)
    envelope = message.envelope
    assert (report.published, report.cleared) == (1, 1)
    assert "Ann Smith" not in envelope.to_json()
    assert envelope.encryption_key_id == "c-1#1"
    assert json.loads(envelope.to_json())["encryptionkeyid"] == "c-1#1"
    await serializer.prepare_to_read([(envelope.metadata(), envelope.data)])
    event = CloudEvent.from_json(envelope.to_json()).to_event(serializer)
    assert isinstance(event, CustomerRegistered)
    assert event.name == "Ann Smith"
