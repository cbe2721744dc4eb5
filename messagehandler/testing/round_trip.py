"""The "what append accepts, load returns" part of the EventSource contract.

An event holding a value that would not read back as written (NaN, infinity, nesting deeper than
JSON readers go, an integer longer than they convert, a lone surrogate) must be refused before
anything is stored, naming the event type, the stream, the version and the field; values at the edge
of what reads back must load back equal. `EventSourceContract` includes these tests.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from pydantic import BaseModel

from messagehandler.domain.aggregate import EventSourced
from messagehandler.errors import UnstorableEventError
from messagehandler.events.event import Event
from messagehandler.events.round_trip import MAX_DEPTH
from messagehandler.eventsource.protocol import EventSource
from messagehandler.repository.repository import AggregateRepository
from messagehandler.testing._pytest import pytest
from messagehandler.testing.recording import recorded
from messagehandler.testing.source_factory import SourceFactory

SENSOR = "ContractSensor"


class Reading(BaseModel):
    value: float | None = None


class Measured(Event, type_name="messagehandler.testing.Measured"):
    value: float = 0.0
    reading: Reading | None = None
    anything: Any = None
    text: str = ""


def nested(depth: int) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


UNREADABLE = {
    "nan": Measured(value=math.nan),
    "infinity in a nested model": Measured(reading=Reading(value=math.inf)),
    "nested 129 levels": Measured(anything=nested(129)),
    "nested 499 levels": Measured(anything=nested(499)),
    "an integer of 5000 digits": Measured(anything=10**5000),
    "a lone surrogate": Measured(text="\ud800"),
}


class Sensor(EventSourced, stream_type=SENSOR):
    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.values: list[float] = []

    def measure(self, value: float) -> None:
        self.emit(Measured(value=value))

    def apply_measured(self, event: Measured) -> None:
        self.values.append(event.value)


METADATA_COLUMNS = ("who", "causation_id", "correlation_id", "tenant_id", "encryption_key_id", "event_id")


def with_metadata(event: Event, **changes: Any) -> Event:
    """A copy of a stamped event whose metadata has `changes` (any field, even ones `recorded` does not take)."""
    copy = event.model_copy()
    copy._stamp(dataclasses.replace(event.metadata, **changes))
    return copy


class RoundTripContract(SourceFactory):
    """What append accepts, load returns: unreadable payloads are refused and never stored."""

    @pytest.mark.parametrize("bad", list(UNREADABLE.values()), ids=list(UNREADABLE))
    async def test_an_event_that_would_not_read_back_is_refused_and_nothing_is_stored(
        self, event_source: EventSource, bad: Measured
    ) -> None:
        event_source.registry.register(Measured)
        events = recorded(SENSOR, "s1", [Measured(value=1.5), bad])

        with pytest.raises(UnstorableEventError) as raised:
            await event_source.append(SENSOR, "s1", 0, events)

        error = raised.value
        assert (error.event_type, error.stream, error.version) == (Measured.__event_type__, f"{SENSOR}/s1", 2)
        assert error.field
        assert await event_source.load(SENSOR, "s1") == []
        await event_source.append(SENSOR, "s1", 0, recorded(SENSOR, "s1", [Measured(value=2.5)]))
        assert [e.value for e in await event_source.load(SENSOR, "s1")] == [2.5]  # type: ignore[attr-defined]

    @pytest.mark.parametrize("column", METADATA_COLUMNS)
    async def test_metadata_that_no_store_can_encode_is_refused_naming_the_field(
        self, event_source: EventSource, column: str
    ) -> None:
        event_source.registry.register(Measured)
        good, bad = recorded(SENSOR, "s3", [Measured(value=1.0), Measured(value=2.0)])

        with pytest.raises(UnstorableEventError) as raised:
            await event_source.append(SENSOR, "s3", 0, [good, with_metadata(bad, **{column: "id-\ud83d"})])

        assert (raised.value.field, raised.value.version) == (f"metadata.{column}", 2)
        assert "lone surrogate" in raised.value.problem
        assert await event_source.load(SENSOR, "s3") == []

    async def test_metadata_of_every_column_loads_back_exactly(self, event_source: EventSource) -> None:
        event_source.registry.register(Measured)
        (event,) = recorded(SENSOR, "s4", [Measured(value=1.0)])
        text = "ünïcødé \U0001f600 'quoted' \"double\" <tag> & more"
        event = with_metadata(event, **{column: f"{column} {text}" for column in METADATA_COLUMNS})

        await event_source.append(SENSOR, "s4", 0, [event])

        (loaded,) = await event_source.load(SENSOR, "s4")
        assert loaded.metadata == event.metadata

    async def test_values_at_the_edge_of_what_reads_back_load_back_equal(self, event_source: EventSource) -> None:
        event_source.registry.register(Measured)
        edge = [
            Measured(value=1.7976931348623157e308, reading=Reading(value=None), text="NaN Infinity null \U0001f600"),
            Measured(value=-0.0, anything=nested(MAX_DEPTH - 1)),
            Measured(anything={"big": 10**4000, "small": 5e-324}),
        ]
        events = recorded(SENSOR, "edge", edge)

        await event_source.append(SENSOR, "edge", 0, events)

        assert await event_source.load(SENSOR, "edge") == events

    async def test_an_aggregate_is_never_bricked_by_a_nan(self, event_source: EventSource) -> None:
        repository = AggregateRepository(event_source)
        sensor = Sensor("s2")
        sensor.measure(1.0)
        repository.add(sensor)
        await repository.flush()
        sensor.measure(math.nan)

        with pytest.raises(UnstorableEventError, match=r"field 'value' is nan"):
            await repository.flush()

        reloaded = await AggregateRepository(event_source).get(Sensor, "s2")
        assert (reloaded.version, reloaded.values) == (1, [1.0])
