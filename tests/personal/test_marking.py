"""Marking personal data in the event model: what is found, and what is refused with a clear error."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, ConfigDict, Field

from messagehandler import Event
from messagehandler.personal import DataSubject, PersonalData, PersonalDataDefinitionError, personal_fields
from messagehandler.testing import recorded
from tests.personal.events import Address, CustomerMoved, CustomerRegistered, OrderPlaced, PlanChanged


def located(event: Event) -> dict[str, Any]:
    plan = personal_fields(type(event))
    assert plan is not None
    document = json.loads(event.model_dump_json())
    return {pointer: (container[slot], marked.erased) for container, slot, pointer, marked in plan.locate(document)}


def test_marked_fields_are_found_with_their_erased_values() -> None:
    event = CustomerRegistered(name="Ann", email="ann@example.com", address=Address(street="Main 1", city="Gent"))

    assert located(event) == {
        "/name": ("Ann", "(erased)"),
        "/email": ("ann@example.com", None),
        "/address/street": ("Main 1", ""),
    }


def test_a_missing_nested_model_has_nothing_to_seal() -> None:
    assert located(CustomerRegistered(name="Ann")) == {"/name": ("Ann", "(erased)"), "/email": (None, None)}


def test_fields_of_models_in_lists_and_dicts_are_found_by_json_pointer() -> None:
    class Book(Event):
        by_label: dict[str, Address]

    moved = CustomerMoved(addresses=[Address(street="a", city="x"), Address(street="b", city="y")])
    book = Book(by_label={"home/main": Address(street="c", city="z")})

    assert located(moved) == {"/addresses/0/street": ("a", ""), "/addresses/1/street": ("b", "")}
    assert located(book) == {"/by_label/home~1main/street": ("c", "")}


def test_a_class_without_marks_has_no_plan() -> None:
    assert personal_fields(PlanChanged) is None


def test_the_subject_is_the_stream_id_or_the_named_field() -> None:
    [registered] = recorded("Customer", "c-7", [CustomerRegistered(name="Ann")])
    [order] = recorded("Order", "o-1", [OrderPlaced(customer_id="c-7", delivery_note="ring twice", amount=3)])

    assert personal_fields(CustomerRegistered).subject(registered) == "c-7"  # type: ignore[union-attr]
    assert personal_fields(OrderPlaced).subject(order) == "c-7"  # type: ignore[union-attr]


def test_serialised_by_alias_the_json_name_is_marked() -> None:
    class Aliased(Event):
        model_config = ConfigDict(frozen=True, serialize_by_alias=True)
        full_name: Annotated[str, PersonalData(erased=""), Field(serialization_alias="fullName")]

    assert located(Aliased(full_name="Ann")) == {"/fullName": ("Ann", "")}


def test_a_required_field_needs_an_erased_value() -> None:
    class NoErased(Event):
        age: Annotated[int, PersonalData]

    with pytest.raises(PersonalDataDefinitionError, match=r"NoErased\.age .*does not accept None.*erased="):
        personal_fields(NoErased)


def test_an_erased_value_must_fit_the_field_and_its_constraints() -> None:
    class WrongType(Event):
        age: Annotated[int, PersonalData(erased="unknown")]

    class TooShort(Event):
        code: Annotated[str, PersonalData(erased=""), Field(min_length=2)]

    with pytest.raises(PersonalDataDefinitionError, match=r"WrongType\.age: the erased value 'unknown'"):
        personal_fields(WrongType)
    with pytest.raises(PersonalDataDefinitionError, match=r"TooShort\.code"):
        personal_fields(TooShort)


def test_a_marker_inside_a_type_argument_is_refused() -> None:
    class Hidden(Event):
        emails: list[Annotated[str, PersonalData]]

    with pytest.raises(PersonalDataDefinitionError, match=r"mark the whole field"):
        personal_fields(Hidden)


def test_a_marker_in_a_plain_dataclass_is_refused() -> None:
    @dataclass
    class Contact:
        phone: Annotated[str, PersonalData(erased="")]

    class WithDataclass(Event):
        contact: Contact

    with pytest.raises(PersonalDataDefinitionError, match=r"non-pydantic class"):
        personal_fields(WithDataclass)


def test_a_union_of_models_with_marks_is_refused() -> None:
    class Phone(BaseModel):
        number: Annotated[str, PersonalData(erased="")]

    class Either(Event):
        contact: Address | Phone

    with pytest.raises(PersonalDataDefinitionError, match=r"union"):
        personal_fields(Either)


def test_the_subject_must_be_one_readable_string_field_of_the_event() -> None:
    class TwoSubjects(Event):
        a: Annotated[str, DataSubject]
        b: Annotated[str, DataSubject]

    class NumberSubject(Event):
        a: Annotated[int, DataSubject]

    class SecretSubject(Event):
        a: Annotated[str, DataSubject, PersonalData(erased="")]

    class Inner(BaseModel):
        owner: Annotated[str, DataSubject]
        note: Annotated[str, PersonalData(erased="")]

    class NestedSubject(Event):
        inner: Inner

    with pytest.raises(PersonalDataDefinitionError, match="one data subject"):
        personal_fields(TwoSubjects)
    with pytest.raises(PersonalDataDefinitionError, match="must be a str"):
        personal_fields(NumberSubject)
    with pytest.raises(PersonalDataDefinitionError, match="both the data subject and personal data"):
        personal_fields(SecretSubject)
    with pytest.raises(PersonalDataDefinitionError, match="field of the event itself"):
        personal_fields(NestedSubject)
