"""Event types known without ceremony: open registries fall back to every class the process defines."""

from __future__ import annotations

from dataclasses import replace

import pytest

from messagehandler import Event, EventTypeRegistry, JsonEventSerializer, UnknownEventTypeError
from messagehandler.errors import AmbiguousEventTypeError
from messagehandler.events import default_registry
from messagehandler.events.serialization import UndecodedEvent, undecoded_as_placeholders
from messagehandler.testing import recorded


class DefinedOnly(Event, type_name="test_default_registry.DefinedOnly"):
    note: str


class Twin(Event, type_name="test_default_registry.Twin"):
    a: int = 0


class OtherTwin(Event, type_name="test_default_registry.Twin"):
    b: int = 0


def test_an_open_registry_knows_a_class_that_was_only_defined() -> None:
    registry = EventTypeRegistry()

    assert registry.resolve("test_default_registry.DefinedOnly") is DefinedOnly
    assert "test_default_registry.DefinedOnly" in registry
    assert list(registry) == [], "iteration lists explicit registrations only"


def test_a_closed_registry_knows_only_what_it_lists_and_the_error_says_how_to_add() -> None:
    registry = EventTypeRegistry([Twin], closed=True)

    with pytest.raises(UnknownEventTypeError) as raised:
        registry.resolve("test_default_registry.DefinedOnly", stream="Order/1", version=3)

    message = str(raised.value)
    assert "a closed EventTypeRegistry (it lists test_default_registry.Twin)" in message
    assert "registry.register(cls)" in message
    assert "Order/1" in message
    assert "version 3" in message


def test_an_unknown_name_names_the_process_wide_registry_and_the_import_to_add() -> None:
    with pytest.raises(UnknownEventTypeError) as raised:
        EventTypeRegistry().resolve("test_default_registry.NeverDefined")

    message = str(raised.value)
    assert "default_registry" in message
    assert "import the module that defines the class" in message


def test_two_classes_under_one_name_are_ambiguous_until_one_is_registered() -> None:
    open_registry = EventTypeRegistry()

    with pytest.raises(AmbiguousEventTypeError) as raised:
        open_registry.resolve("test_default_registry.Twin")

    message = str(raised.value)
    assert f"{__name__}.Twin" in message
    assert f"{__name__}.OtherTwin" in message
    assert "type_name=" in message
    assert "test_default_registry.Twin" not in open_registry
    assert EventTypeRegistry([OtherTwin]).resolve("test_default_registry.Twin") is OtherTwin


def test_a_class_defined_again_under_the_same_name_replaces_the_earlier_one() -> None:
    def define() -> type[Event]:
        class Redefined(Event, type_name="test_default_registry.Redefined"):
            pass

        return Redefined

    define()
    latest = define()

    assert EventTypeRegistry().resolve("test_default_registry.Redefined") is latest


def test_upcasters_on_the_default_registry_serve_every_open_registry() -> None:
    class Priced(Event, type_name="test_default_registry.Priced", schema_version=2):
        amount: str
        currency: str

    default_registry.add_upcaster(Priced, 1, lambda data: {**data, "currency": "EUR"})
    (old,) = recorded("Shop", "s1", [Priced(amount="1", currency="x")])
    stored = old.metadata.with_schema_version(1)

    loaded = JsonEventSerializer().deserialize('{"amount": "9.50"}', stored)
    own = EventTypeRegistry()
    own.add_upcaster(Priced, 1, lambda data: {**data, "currency": "USD"})

    assert loaded == Priced(amount="9.50", currency="EUR")
    assert JsonEventSerializer(own).deserialize('{"amount": "1"}', stored) == Priced(amount="1", currency="USD")
    with pytest.raises(Exception, match="no upcaster"):
        JsonEventSerializer(EventTypeRegistry([Priced], closed=True)).deserialize('{"amount": "1"}', stored)


@pytest.mark.parametrize(
    ("type_name", "body", "reason"),
    [
        ("test_default_registry.NeverDefined", "{}", "unknown event type"),
        ("test_default_registry.Twin", "{}", "defined by 2 classes"),
        ("test_default_registry.DefinedOnly", '{"note": 1}', "does not match its class"),
    ],
)
def test_an_undecodable_row_raises_except_where_a_reader_asked_for_placeholders(
    type_name: str, body: str, reason: str
) -> None:
    (event,) = recorded("Order", "o1", [DefinedOnly(note="template")])
    metadata = replace(event.metadata, event_type=type_name)
    serializer = JsonEventSerializer()

    with pytest.raises(Exception, match=reason):
        serializer.deserialize(body, metadata)
    with undecoded_as_placeholders():
        placeholder = serializer.deserialize(body, metadata)

    assert isinstance(placeholder, UndecodedEvent)
    assert (placeholder.body, placeholder.metadata.event_type) == (body, type_name)
    assert reason in placeholder.error
