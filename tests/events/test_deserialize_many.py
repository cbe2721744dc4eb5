"""Reading a stream's events in one call gives exactly what reading them one by one gives, errors included."""

from __future__ import annotations

import dataclasses

import pytest

from messagehandler import Event, EventMetadata, EventTypeRegistry, JsonEventSerializer, SerializationError
from messagehandler.cache import PassThroughSerializer, StoredBody
from messagehandler.errors import AmbiguousEventTypeError, UnknownEventTypeError
from messagehandler.events.personal import EncryptedEventError
from messagehandler.events.serialization import UndecodedEvent, many_deserializer, undecoded_as_placeholders
from messagehandler.testing import recorded


class Opened(Event, type_name="tests.many.Opened"):
    name: str


class PriceV2(Event, type_name="tests.many.Price", schema_version=2):
    amount: int
    currency: str


def stored(*pairs: tuple[Event, str], schema_versions: dict[int, int] | None = None) -> list[tuple[EventMetadata, str]]:
    """(metadata, body) pairs as a store holds them: versions 1, 2, ... of one stream."""
    events = recorded("Account", "a-1", [event for event, _ in pairs])
    versions = schema_versions or {}
    return [
        (dataclasses.replace(event.metadata, schema_version=versions.get(n, 1)), body)
        for n, (event, (_, body)) in enumerate(zip(events, pairs, strict=True), start=1)
    ]


def one_by_one(serializer: JsonEventSerializer, rows: list[tuple[EventMetadata, str]]) -> list[Event]:
    return [serializer.deserialize(body, meta) for meta, body in rows]


@pytest.fixture
def registry() -> EventTypeRegistry:
    registry = EventTypeRegistry([Opened, PriceV2], closed=True)
    registry.add_upcaster(PriceV2, 1, lambda data: {**data, "currency": "EUR"})
    return registry


def test_a_stream_reads_the_same_in_one_call_as_event_by_event(registry: EventTypeRegistry) -> None:
    rows = stored(
        (Opened(name="x"), '{"name":"Acme"}'),
        (PriceV2(amount=1, currency="x"), '{"amount":5}'),
        (PriceV2(amount=1, currency="x"), '{"amount":7,"currency":"USD"}'),
        (Opened(name="x"), '{"name":"Again"}'),
        schema_versions={2: 1, 3: 2},
    )
    serializer = JsonEventSerializer(registry)

    many = serializer.deserialize_many(rows)

    assert many == one_by_one(serializer, rows)
    assert many == [
        Opened(name="Acme"),
        PriceV2(amount=5, currency="EUR"),
        PriceV2(amount=7, currency="USD"),
        Opened(name="Again"),
    ]
    assert [dataclasses.asdict(e.metadata) for e in many] == [
        dataclasses.asdict(e.metadata) for e in one_by_one(serializer, rows)
    ]
    assert [e.metadata.schema_version for e in many] == [1, 2, 2, 1]
    assert many[0].metadata is rows[0][0]


@pytest.mark.parametrize(
    ("body", "type_name", "error"),
    [
        pytest.param('{"name": 3}', "tests.many.Opened", SerializationError, id="body that does not fit"),
        pytest.param('{"name": {"$personal": "x", "key": "k"}}', "tests.many.Opened", EncryptedEventError, id="sealed"),
        pytest.param("{}", "tests.many.Unknown", UnknownEventTypeError, id="unknown type"),
    ],
)
def test_a_bad_row_raises_what_reading_it_alone_raises_or_becomes_a_placeholder(
    registry: EventTypeRegistry, body: str, type_name: str, error: type[Exception]
) -> None:
    rows = stored((Opened(name="x"), '{"name":"Acme"}'), (Opened(name="x"), body))
    rows[1] = (dataclasses.replace(rows[1][0], event_type=type_name), body)
    serializer = JsonEventSerializer(registry)

    with pytest.raises(error) as alone:
        one_by_one(serializer, rows)
    with pytest.raises(error) as together:
        serializer.deserialize_many(rows)
    with undecoded_as_placeholders():
        first, placeholder = serializer.deserialize_many(rows)

    assert str(together.value) == str(alone.value)
    assert first == Opened(name="Acme")
    assert isinstance(placeholder, UndecodedEvent)
    assert placeholder.metadata is rows[1][0]


def test_an_ambiguous_type_still_raises(registry: EventTypeRegistry) -> None:
    class Twice(Event, type_name="tests.many.Twice"):
        n: int

    class TwiceAgain(Event, type_name="tests.many.Twice"):
        n: int

    rows = stored((Twice(n=1), '{"n":1}'))

    with pytest.raises(AmbiguousEventTypeError):
        JsonEventSerializer().deserialize_many(rows)
    assert JsonEventSerializer(EventTypeRegistry([TwiceAgain])).deserialize_many(rows) == [TwiceAgain(n=1)]


def test_the_pass_through_serializer_keeps_unregistered_types_as_stored_bodies(registry: EventTypeRegistry) -> None:
    rows = stored((Opened(name="x"), '{"name":"Acme"}'), (Opened(name="x"), '{"other":true}'))
    rows[1] = (dataclasses.replace(rows[1][0], event_type="elsewhere.Other"), rows[1][1])
    serializer = PassThroughSerializer(EventTypeRegistry([Opened], closed=True))

    first, second = serializer.deserialize_many(rows)

    assert first == Opened(name="Acme")
    assert isinstance(second, StoredBody)
    assert second.body == '{"other":true}'
    assert serializer.deserialize_many(rows[:1]) == [Opened(name="Acme")]


class Shouting(JsonEventSerializer):
    """Overrides `deserialize` only: a reader of many events must not skip it."""

    def deserialize(self, body: str, metadata: EventMetadata) -> Event:
        event = super().deserialize(body, metadata)
        return event.model_copy(update={"name": event.name.upper()}) if isinstance(event, Opened) else event


def test_a_subclass_overriding_deserialize_alone_is_called_for_every_event(registry: EventTypeRegistry) -> None:
    rows = stored((Opened(name="x"), '{"name":"Acme"}'))

    assert many_deserializer(Shouting(registry))(rows) == [Opened(name="ACME")]
    assert many_deserializer(JsonEventSerializer(registry))(rows) == [Opened(name="Acme")]
