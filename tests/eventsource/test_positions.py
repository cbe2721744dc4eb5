"""Catch-up reads over every event source: seen versions skipped, gaps filled, new streams found."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from messagehandler import EventSource, SerializationError, SkipBadRows
from messagehandler.eventsource.positions import TypePosition, catch_up
from messagehandler.testing import recorded
from messagehandler.testing.bad_rows import Counted
from samples.organization import OrganizationRegistered, OrganizationRenamed
from tests.support.history import ORG, history
from tests.support.history import strictly_later_commit as _strictly_later_commit


@pytest.fixture(autouse=True)
def _register(event_source: EventSource) -> None:
    event_source.registry.register(OrganizationRegistered, OrganizationRenamed)


async def versions(source: EventSource, position: TypePosition, margin: timedelta) -> dict[str, list[int]]:
    return {
        s.stream_id: [e.metadata.version for e in s.events]
        async for s in catch_up(source, ORG, position, margin=margin)
    }


async def test_a_first_catch_up_reads_everything_and_a_second_nothing(event_source: EventSource) -> None:
    await event_source.append(ORG, "a", 0, history("a", 3))
    await event_source.append(ORG, "b", 0, history("b", 1))
    position = TypePosition()

    assert await versions(event_source, position, timedelta(minutes=5)) == {"a": [1, 2, 3], "b": [1]}
    assert position.versions == {"a": 3, "b": 1}
    assert await versions(event_source, position, timedelta(minutes=5)) == {}


async def test_new_events_and_new_streams_are_read_once(event_source: EventSource) -> None:
    await event_source.append(ORG, "a", 0, history("a", 2))
    position = TypePosition()
    await versions(event_source, position, timedelta(minutes=5))
    await event_source.append(ORG, "a", 2, history("a", 1, start_version=3))
    await event_source.append(ORG, "c", 0, history("c", 2))

    assert await versions(event_source, position, timedelta(minutes=5)) == {"a": [3], "c": [1, 2]}
    assert await versions(event_source, position, timedelta(minutes=5)) == {}


async def test_an_event_older_than_the_margin_is_filled_in_from_its_stream(event_source: EventSource) -> None:
    """An event committed late with an early commit time (in flight while the position was saved)."""
    await event_source.append(ORG, "a", 0, history("a", 2))
    loaded = await event_source.load(ORG, "a")
    stored_at = loaded[1].metadata.stored_at
    assert stored_at is not None
    high_water = await _strictly_later_commit(event_source, stored_at)
    position = TypePosition(versions={"a": 1}, high_water=high_water)
    await event_source.append(ORG, "a", 2, history("a", 1, start_version=3))

    assert await versions(event_source, position, timedelta(0)) == {"a": [2, 3]}
    assert position.versions == {"a": 3}


async def test_a_position_round_trips_through_json(event_source: EventSource) -> None:
    await event_source.append(ORG, "a", 0, history("a", 2))
    position = TypePosition()
    await versions(event_source, position, timedelta(minutes=5))

    assert TypePosition.from_json(position.to_json()) == position
    assert position.high_water is not None


async def test_the_high_water_mark_moves_only_when_a_pass_is_read_to_its_end(event_source: EventSource) -> None:
    for stream_id in ("a", "b", "c"):
        await event_source.append(ORG, stream_id, 0, history(stream_id, 1))
    position = TypePosition()

    feed = catch_up(event_source, ORG, position, margin=timedelta(0))
    first = await anext(feed)
    assert position.versions == {first.stream_id: 1}
    assert position.high_water is None
    rest = [stream async for stream in feed]

    assert len(rest) == 2
    assert position.high_water is not None


async def test_a_gap_that_cannot_be_loaded_stops_a_catch_up_or_is_skipped_and_reported(
    event_source: EventSource,
) -> None:
    event_source.registry.register(Counted)
    await event_source.append(ORG, "a", 0, history("a", 1))
    await event_source.append(ORG, "a", 1, recorded(ORG, "a", [Counted.model_construct(count=-1)], start_version=2))
    high_water = await _strictly_later_commit(event_source, datetime.now(UTC))  # after the bad row's commit
    await event_source.append(ORG, "a", 2, history("a", 1, start_version=3))
    await event_source.append(ORG, "b", 0, history("b", 1))

    with pytest.raises(SerializationError):
        await versions(event_source, TypePosition(versions={"a": 1}, high_water=high_water), timedelta(0))
    position = TypePosition(versions={"a": 1}, high_water=high_water)
    bad_rows = SkipBadRows()
    feed = catch_up(event_source, ORG, position, margin=timedelta(0), bad_rows=bad_rows)

    assert {s.stream_id: [e.metadata.version for e in s.events] async for s in feed} == {"b": [1]}
    assert position.versions == {"a": 1, "b": 1}
    assert bad_rows.streams == [f"{ORG}/a"]
