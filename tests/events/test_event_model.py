from __future__ import annotations

import enum
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel, Field

from messagehandler import (
    DuplicateEventTypeError,
    Event,
    EventDefinitionError,
    EventTypeRegistry,
    JsonEventSerializer,
    SerializationError,
    UnknownEventTypeError,
    UpcastError,
)
from messagehandler.testing import recorded


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Address(BaseModel):
    street: str
    city: str


class EverythingHappened(Event):
    at: datetime
    on: date
    id: uuid.UUID
    amount: Decimal
    colour: Colour
    address: Address
    nickname: str | None = None
    tags: list[str] = Field(default_factory=list)
    counts: dict[str, int] = Field(default_factory=dict)
    ratio: float = 0.0
    flag: bool = False
    raw: bytes = b""


class Why(BaseModel):
    command: str
    reason: str | None = None


class Context(BaseModel):
    id: str
    what: str
    when: datetime
    who: str
    why: Why


class SeedShaped(Event, type_name="SeedShaped"):
    """The seed's event shape: a context object beside the domain payload."""

    context: Context
    name: str


def roundtrip(event: Event, registry: EventTypeRegistry) -> Event:
    (stamped,) = recorded("S", "s1", [event])
    serializer = JsonEventSerializer(registry)
    return serializer.deserialize(serializer.serialize(stamped), stamped.metadata)


def test_the_type_name_defaults_to_the_class_name_not_the_import_path() -> None:
    assert EverythingHappened.__event_type__ == "EverythingHappened"
    assert SeedShaped.__event_type__ == "SeedShaped"


def test_invalid_type_names_and_schema_versions_are_refused() -> None:
    with pytest.raises(EventDefinitionError, match="not valid"):

        class Bad(Event, type_name="has space"):
            pass

    with pytest.raises(EventDefinitionError, match="schema_version"):

        class Bad2(Event, schema_version=0):
            pass


def test_common_field_types_round_trip_through_json() -> None:
    registry = EventTypeRegistry([EverythingHappened])
    event = EverythingHappened(
        at=datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=timezone(timedelta(hours=2))),
        on=date(2026, 1, 2),
        id=uuid.uuid4(),
        amount=Decimal("1234.5678"),
        colour=Colour.BLUE,
        address=Address(street="Main 1", city="Gent"),
        tags=["a", "b"],
        counts={"x": 1},
        ratio=0.1,
        flag=True,
        raw=b"\x00\xff",
    )

    loaded = roundtrip(event, registry)

    assert loaded == event
    assert isinstance(loaded, EverythingHappened)
    assert loaded.at.utcoffset() == timedelta(hours=2)
    assert loaded.amount == Decimal("1234.5678")
    assert loaded.colour is Colour.BLUE
    assert loaded.nickname is None
    assert loaded.metadata.event_type == "EverythingHappened"


def test_the_seed_event_shape_round_trips() -> None:
    registry = EventTypeRegistry([SeedShaped])
    event = SeedShaped(
        context=Context(
            id="evt-1",
            what="OrganizationRegistered",
            when=datetime(2026, 5, 1, tzinfo=UTC),
            who="alice",
            why=Why(command="RegisterOrganization", reason="signup"),
        ),
        name="Acme",
    )

    loaded = roundtrip(event, registry)

    assert loaded == event
    assert isinstance(loaded, SeedShaped)
    assert loaded.context.why.command == "RegisterOrganization"


def test_registering_two_classes_under_one_name_is_an_error() -> None:
    class First(Event, type_name="Clash"):
        pass

    class Second(Event, type_name="Clash"):
        pass

    registry = EventTypeRegistry([First])
    registry.register(First)

    with pytest.raises(DuplicateEventTypeError, match=r"'Clash'.*First.*Second"):
        registry.register(Second)
    assert registry.resolve("Clash") is First


def test_only_event_classes_can_be_registered() -> None:
    with pytest.raises(EventDefinitionError):
        EventTypeRegistry().register(Address)  # type: ignore[arg-type]


def test_resolving_an_unknown_name_is_a_typed_error() -> None:
    with pytest.raises(UnknownEventTypeError, match="'Nope'"):
        EventTypeRegistry().resolve("Nope")


def test_the_registry_decorator_registers() -> None:
    registry = EventTypeRegistry()

    @registry.event
    class Decorated(Event):
        pass

    assert registry.resolve("Decorated") is Decorated
    assert "Decorated" in registry
    assert list(registry) == ["Decorated"]


class V1(Event, type_name="Renamed", schema_version=1):
    fullname: str


class V3(Event, type_name="Renamed", schema_version=3):
    first: str
    last: str
    source: str


def split(data: dict[str, Any]) -> dict[str, Any]:
    first, _, last = data.pop("fullname").partition(" ")
    return {**data, "first": first, "last": last}


def test_upcasters_chain_from_version_n_to_the_current_one() -> None:
    registry = EventTypeRegistry([V3])
    registry.add_upcaster("Renamed", 1, split)

    @registry.upcaster(V3, 2)
    def add_source(data: dict[str, Any]) -> dict[str, Any]:
        return {**data, "source": "migrated"}

    (old,) = recorded("Person", "p1", [V1(fullname="Ada Lovelace")])
    serializer = JsonEventSerializer(registry)

    loaded = serializer.deserialize(serializer.serialize(old), old.metadata)

    assert loaded == V3(first="Ada", last="Lovelace", source="migrated")
    assert loaded.metadata.schema_version == 3
    assert loaded.metadata.event_id == old.metadata.event_id


def test_a_missing_upcaster_step_names_type_version_and_stream() -> None:
    registry = EventTypeRegistry([V3])
    registry.add_upcaster("Renamed", 1, split)
    (old,) = recorded("Person", "p1", [V1(fullname="Ada Lovelace")])
    serializer = JsonEventSerializer(registry)

    with pytest.raises(UpcastError, match=r"'Renamed' from schema version 2.*Person/p1"):
        serializer.deserialize(serializer.serialize(old), old.metadata)


def test_a_failing_upcaster_is_reported() -> None:
    registry = EventTypeRegistry([V3])
    registry.add_upcaster("Renamed", 1, lambda data: data["missing"])
    (old,) = recorded("Person", "p1", [V1(fullname="Ada")])
    serializer = JsonEventSerializer(registry)

    with pytest.raises(UpcastError, match="failed"):
        serializer.deserialize(serializer.serialize(old), old.metadata)


def test_a_stored_version_newer_than_the_code_is_refused() -> None:
    registry = EventTypeRegistry([V1])
    (new,) = recorded("Person", "p1", [V3(first="A", last="B", source="x")])
    serializer = JsonEventSerializer(registry)

    with pytest.raises(UpcastError, match="newer"):
        serializer.deserialize(serializer.serialize(new), new.metadata)


def test_registering_an_upcaster_twice_is_an_error() -> None:
    registry = EventTypeRegistry()
    registry.add_upcaster("Renamed", 1, split)
    with pytest.raises(EventDefinitionError):
        registry.add_upcaster("Renamed", 1, split)


def test_a_body_that_does_not_match_its_class_is_a_serialization_error() -> None:
    registry = EventTypeRegistry([V1])
    (event,) = recorded("Person", "p1", [V1(fullname="x")])

    with pytest.raises(SerializationError, match=r"'Renamed'.*Person/p1.*version 1"):
        JsonEventSerializer(registry).deserialize('{"other": 1}', event.metadata)


def test_metadata_is_absent_until_stamped() -> None:
    event = V1(fullname="x")
    assert not event.has_metadata
    with pytest.raises(AttributeError, match="no metadata"):
        _ = event.metadata


def test_events_are_immutable() -> None:
    event = V1(fullname="x")
    with pytest.raises(ValueError, match="frozen"):
        event.fullname = "y"  # type: ignore[misc]


def test_metadata_is_immutable_and_replace_keeps_every_field() -> None:
    import dataclasses

    (event,) = recorded("Person", "p1", [V1(fullname="x")], who="alice", tenant_id="t")
    meta = event.metadata

    with pytest.raises(dataclasses.FrozenInstanceError):
        meta.version = 2  # type: ignore[misc]
    moved = meta.with_schema_version(7)
    assert (moved.schema_version, moved.who, moved.tenant_id, moved.event_id) == (7, "alice", "t", meta.event_id)
    assert moved.stored_at is None
