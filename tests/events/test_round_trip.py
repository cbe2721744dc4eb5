"""What append accepts, load returns: payloads that would not read back are refused by the serializer.

Every kind of value that serialises but does not come back (NaN and infinity, containers nested
deeper than JSON readers go, integers longer than they convert, lone surrogates) is tested in every
place it can hide: a plain field, an optional one, a nested model, a dataclass, a list, a tuple, a
dict (value and key) and an untyped field.
"""

from __future__ import annotations

import dataclasses
import math
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field

from messagehandler import Event, JsonEventSerializer, SerializationError, UnstorableEventError
from messagehandler.events.round_trip import MAX_DEPTH, MAX_INT_DIGITS, json_depth
from messagehandler.testing import recorded


class Reading(BaseModel):
    value: float | None = None
    label: str = ""


@dataclasses.dataclass
class Pair:
    left: float
    right: Any = None


class Measured(Event, type_name="Measured"):
    value: float = 0.0
    optional: float | None = None
    reading: Reading | None = None
    readings: list[Reading] = Field(default_factory=list)
    pair: Pair | None = None
    values: list[float] = Field(default_factory=list)
    fixed: tuple[float, ...] = ()
    by_name: dict[str, Any] = Field(default_factory=dict)
    anything: Any = None
    text: str = ""
    count: int = 0


class NullsItsFloats(Event, type_name="NullsItsFloats"):
    """An event class that switches the constants back off: NaN would be written as null."""

    model_config = ConfigDict(frozen=True, ser_json_inf_nan="null")
    value: float | None = None


def nested_list(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def nested_dict(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"x": value}
    return value


def stamped(event: Event) -> Event:
    return recorded("Sensor", "s-1", [event], start_version=7)[0]


REFUSED = [
    ("nan", Measured(value=math.nan), "value", "nan"),
    ("infinity", Measured(value=math.inf), "value", "inf"),
    ("minus infinity", Measured(value=-math.inf), "value", "-inf"),
    ("optional", Measured(optional=math.nan), "optional", "nan"),
    ("nested model", Measured(reading=Reading(value=math.inf)), "reading.value", "inf"),
    ("model in a list", Measured(readings=[Reading(), Reading(value=math.nan)]), "readings[1].value", "nan"),
    ("dataclass", Measured(pair=Pair(left=math.nan)), "pair.left", "nan"),
    ("untyped in a dataclass", Measured(pair=Pair(left=1.0, right=[math.inf])), "pair.right[0]", "inf"),
    ("list", Measured(values=[1.0, math.nan]), "values[1]", "nan"),
    ("tuple", Measured(fixed=(math.inf,)), "fixed[0]", "inf"),
    ("dict value", Measured(by_name={"a": {"b": math.nan}}), "by_name['a']['b']", "nan"),
    ("untyped", Measured(anything=[1, {"x": -math.inf}]), "anything[1]['x']", "-inf"),
    ("decimal", Measured(anything=Decimal("NaN")), "anything", "NaN"),
    ("list too deep", Measured(anything=nested_list(MAX_DEPTH)), "anything" + "[0]" * (MAX_DEPTH - 1), "levels deep"),
    ("dict too deep", Measured(by_name=nested_dict(MAX_DEPTH)), "by_name" + "['x']" * (MAX_DEPTH - 1), "levels deep"),
    ("far too deep", Measured(anything=nested_list(300)), "anything" + "[0]" * (MAX_DEPTH - 1), "levels deep"),
    ("long integer", Measured(count=10**MAX_INT_DIGITS), "count", "digits"),
    ("long untyped integer", Measured(anything={"n": -(10**5000)}), "anything['n']", "digits"),
    ("lone surrogate", Measured(text="a\ud83d"), "text", "lone surrogate"),
    ("lone surrogate in a model", Measured(reading=Reading(label="\udc00")), "reading.label", "lone surrogate"),
    ("lone surrogate in a key", Measured(by_name={"k\udc00": 1}), "by_name['k\\udc00'] (the key)", "lone surrogate"),
    ("hidden by the class's own config", NullsItsFloats(value=math.nan), "value", "nan"),
]


@pytest.mark.parametrize(("event", "field", "problem"), [case[1:] for case in REFUSED], ids=[c[0] for c in REFUSED])
def test_a_value_that_would_not_read_back_is_refused_naming_the_field(event: Event, field: str, problem: str) -> None:
    with pytest.raises(UnstorableEventError) as raised:
        JsonEventSerializer().serialize(stamped(event))

    error = raised.value
    assert isinstance(error, SerializationError)
    assert (error.event_type, error.stream, error.version, error.field) == (
        type(event).__event_type__,
        "Sensor/s-1",
        7,
        field,
    )
    assert problem in error.problem
    assert "Sensor/s-1" in str(error)
    assert "version 7" in str(error)
    assert "nothing was written" in str(error)


ACCEPTED = [
    ("the words in text", Measured(text='NaN, Infinity and null are words "NaN" [[[[')),
    ("none where a float may be", Measured(optional=None, reading=Reading(value=None))),
    ("largest finite float", Measured(value=1.7976931348623157e308, values=[5e-324, -0.0])),
    ("nested as deep as allowed", Measured(anything=nested_list(MAX_DEPTH - 1))),
    ("many shallow containers", Measured(readings=[Reading(value=float(n)) for n in range(500)])),
    ("longest integer", Measured(count=10**MAX_INT_DIGITS - 1)),
    ("digits in text", Measured(text="9" * (MAX_INT_DIGITS + 10))),
    ("surrogate pairs and replacement characters", Measured(text="😀 \ufffd", by_name={"😀": "\ufffd"})),
    ("a nulling class without floats to hide", NullsItsFloats(value=None)),
]


@pytest.mark.parametrize("event", [case[1] for case in ACCEPTED], ids=[c[0] for c in ACCEPTED])
def test_a_value_that_reads_back_is_accepted_and_reads_back_equal(event: Event) -> None:
    serializer = JsonEventSerializer()
    serializer.registry.register(type(event))
    event = stamped(event)

    loaded = serializer.deserialize(serializer.serialize(event), event.metadata)

    assert loaded == event


def test_an_unstamped_event_is_refused_without_a_stream() -> None:
    with pytest.raises(UnstorableEventError) as raised:
        JsonEventSerializer().serialize(Measured(value=math.nan))

    assert raised.value.stream is None
    assert "(stream" not in str(raised.value)


def test_a_long_field_path_is_shortened_in_the_message_only() -> None:
    with pytest.raises(UnstorableEventError) as raised:
        JsonEventSerializer().serialize(stamped(Measured(anything=nested_list(100))))

    assert len(raised.value.field) > 100
    assert "..." in str(raised.value)


class Opaque:
    pass


class CarriesAnObject(Event, type_name="CarriesAnObjectForRoundTrip"):
    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)
    thing: Any


def test_a_value_json_cannot_express_is_still_a_plain_serialization_error() -> None:
    with pytest.raises(SerializationError) as raised:
        JsonEventSerializer().serialize(stamped(CarriesAnObject(thing=Opaque())))

    assert not isinstance(raised.value, UnstorableEventError)
    assert "Sensor/s-1" in str(raised.value)


@pytest.mark.parametrize(
    ("text", "depth"),
    [("1", 0), ("[]", 1), ('{"a":[{"b":[]}]}', 4), ('{"a":"[[[[[[","b":["]"]}', 2), (r'["\"[[["]', 1)],
)
def test_json_depth_ignores_brackets_in_strings(text: str, depth: int) -> None:
    assert json_depth(text) == depth
