"""The pass-through serializer: unknown types stay text and are written back unchanged, known ones stay typed."""

from __future__ import annotations

from datetime import UTC, datetime

from messagehandler import Event, EventTypeRegistry
from messagehandler.cache.passthrough import PassThroughSerializer, StoredBody
from messagehandler.events.metadata import EventMetadata


class Noted(Event, type_name="tests.cache.Noted"):
    text: str


def metadata(event_type: str) -> EventMetadata:
    return EventMetadata("e-1", event_type, "s-1", "Stream", 1, datetime(2024, 1, 1, tzinfo=UTC))


def test_an_unknown_type_reads_as_its_body_and_writes_back_byte_for_byte() -> None:
    serializer = PassThroughSerializer()
    body = '{"b": 1,  "a": "x"}'

    event = serializer.deserialize(body, metadata("elsewhere.Thing"))

    assert isinstance(event, StoredBody)
    assert event.metadata.event_type == "elsewhere.Thing"
    assert serializer.serialize(event) == body


def test_a_registered_type_reads_as_its_class_and_is_serialized_by_it() -> None:
    serializer = PassThroughSerializer(EventTypeRegistry([Noted]))

    event = serializer.deserialize('{"text": "hi"}', metadata("tests.cache.Noted"))

    assert isinstance(event, Noted)
    assert event.text == "hi"
    assert '"text":"hi"' in serializer.serialize(event).replace(" ", "")
