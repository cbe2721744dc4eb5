"""The EventSource contract: every implementation must pass every test here."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ConfigDict

from messagehandler import (
    ConcurrencyError,
    Event,
    EventSource,
    InvalidKeyError,
    SerializationError,
    StreamIntegrityError,
    UnknownEventTypeError,
)
from messagehandler.testing import recorded
from samples.organization import OrganizationRegistered, OrganizationRenamed

ORG = "Organization"


def history(stream_id: str, count: int, *, start_version: int = 1, stream_type: str = ORG) -> list[Event]:
    events: list[Event] = []
    if start_version == 1 and count:
        events.append(OrganizationRegistered(name=f"{stream_id} 1", country="BE"))
    while len(events) < count:
        events.append(OrganizationRenamed(name=f"{stream_id} {start_version + len(events)}"))
    return recorded(stream_type, stream_id, events, start_version=start_version)


@pytest.fixture(autouse=True)
def _register(event_source: EventSource) -> None:
    event_source.registry.register(OrganizationRegistered, OrganizationRenamed)


async def test_a_missing_stream_loads_empty(event_source: EventSource) -> None:
    assert await event_source.load(ORG, "nobody") == []


async def test_appended_events_load_with_payload_and_metadata(event_source: EventSource) -> None:
    events = recorded(
        ORG,
        "acme",
        [OrganizationRegistered(name="Acme", country="BE"), OrganizationRenamed(name="Acme Corp")],
        who="alice",
        correlation_id="corr-1",
        causation_id="cmd-1",
        tenant_id="tenant-9",
    )
    await event_source.append(ORG, "acme", 0, events)

    loaded = await event_source.load(ORG, "acme")

    assert loaded == events
    assert [type(e) for e in loaded] == [OrganizationRegistered, OrganizationRenamed]
    assert [e.metadata for e in loaded] == [e.metadata for e in events]
    assert loaded[0].metadata.when.tzinfo is not None
    assert loaded[0] is not events[0]


async def test_load_from_a_version(event_source: EventSource) -> None:
    await event_source.append(ORG, "acme", 0, history("acme", 5))

    loaded = await event_source.load(ORG, "acme", from_version=3)

    assert [e.metadata.version for e in loaded] == [3, 4, 5]


async def test_appends_continue_a_stream(event_source: EventSource) -> None:
    await event_source.append(ORG, "acme", 0, history("acme", 2))
    await event_source.append(ORG, "acme", 2, history("acme", 3, start_version=3))

    loaded = await event_source.load(ORG, "acme")

    assert [e.metadata.version for e in loaded] == [1, 2, 3, 4, 5]


async def test_an_empty_append_writes_nothing(event_source: EventSource) -> None:
    await event_source.append(ORG, "acme", 0, [])

    assert await event_source.load(ORG, "acme") == []
    assert [i async for i in event_source.stream_ids(ORG)] == []


async def test_a_stale_expected_version_raises_and_writes_nothing(event_source: EventSource) -> None:
    await event_source.append(ORG, "acme", 0, history("acme", 3))
    competing = history("acme", 2, start_version=3)

    with pytest.raises(ConcurrencyError) as raised:
        await event_source.append(
            ORG, "acme", 2, recorded(ORG, "acme", [OrganizationRenamed(name="late")], start_version=3)
        )

    assert (raised.value.stream_type, raised.value.stream_id) == (ORG, "acme")
    assert (raised.value.expected_version, raised.value.actual_version) == (2, 3)
    assert "Organization/acme" in str(raised.value)
    await event_source.append(ORG, "acme", 3, history("acme", 2, start_version=4))
    assert len(await event_source.load(ORG, "acme")) == 5
    assert competing  # the losing events were never stored
    stored_ids = {e.metadata.event_id for e in await event_source.load(ORG, "acme")}
    assert not stored_ids & {e.metadata.event_id for e in competing}


async def test_appending_to_a_stream_that_does_not_exist_yet_with_a_version_conflicts(
    event_source: EventSource,
) -> None:
    with pytest.raises(ConcurrencyError) as raised:
        await event_source.append(ORG, "ghost", 2, history("ghost", 1, start_version=3))

    assert raised.value.actual_version == 0
    assert [i async for i in event_source.stream_ids(ORG)] == []


async def test_two_writers_at_the_same_version_one_wins(event_source: EventSource) -> None:
    await event_source.append(ORG, "acme", 0, history("acme", 1))
    first = recorded(
        ORG, "acme", [OrganizationRenamed(name="first"), OrganizationRenamed(name="first again")], start_version=2
    )
    second = recorded(ORG, "acme", [OrganizationRenamed(name="second")], start_version=2)

    outcomes = await asyncio.gather(
        event_source.append(ORG, "acme", 1, first),
        event_source.append(ORG, "acme", 1, second),
        return_exceptions=True,
    )

    errors = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(errors) == 1
    assert isinstance(errors[0], ConcurrencyError)
    loaded = await event_source.load(ORG, "acme")
    winner = first if outcomes[0] is None else second
    assert [e.metadata.event_id for e in loaded[1:]] == [e.metadata.event_id for e in winner]


async def test_a_retried_append_of_the_same_events_succeeds_without_duplicates(event_source: EventSource) -> None:
    events = history("acme", 3)
    await event_source.append(ORG, "acme", 0, events)

    await event_source.append(ORG, "acme", 0, events)

    loaded = await event_source.load(ORG, "acme")
    assert [e.metadata.event_id for e in loaded] == [e.metadata.event_id for e in events]


async def test_a_retry_with_other_event_ids_is_a_conflict(event_source: EventSource) -> None:
    await event_source.append(ORG, "acme", 0, history("acme", 2))

    with pytest.raises(ConcurrencyError):
        await event_source.append(ORG, "acme", 0, history("acme", 2))


async def test_read_type_yields_each_stream_whole_and_in_order(event_source: EventSource) -> None:
    sizes = {f"org-{n:02d}": 1 + n % 4 for n in range(12)}
    for stream_id, size in sizes.items():
        await event_source.append(ORG, stream_id, 0, history(stream_id, size))
    await event_source.append("Person", "p1", 0, history("p1", 2, stream_type="Person"))

    streams = [s async for s in event_source.read_type(ORG)]

    assert sorted(s.stream_id for s in streams) == sorted(sizes)
    for stream in streams:
        assert stream.stream_type == ORG
        assert [e.metadata.version for e in stream.events] == list(range(1, sizes[stream.stream_id] + 1))
        assert {e.metadata.source_id for e in stream.events} == {stream.stream_id}
        assert stream.version == sizes[stream.stream_id]


async def test_read_type_of_an_unknown_type_is_empty(event_source: EventSource) -> None:
    assert [s async for s in event_source.read_type("Nothing")] == []


async def test_stream_ids_lists_only_that_type(event_source: EventSource) -> None:
    for stream_id in ("a", "b", "c"):
        await event_source.append(ORG, stream_id, 0, history(stream_id, 2))
    await event_source.append("Person", "p1", 0, history("p1", 1, stream_type="Person"))

    assert sorted([i async for i in event_source.stream_ids(ORG)]) == ["a", "b", "c"]
    assert [i async for i in event_source.stream_ids("Person")] == ["p1"]


async def test_ids_that_look_like_query_syntax_stay_apart(event_source: EventSource) -> None:
    tricky = ["x' or PartitionKey ne '", "x", "x'", "x_0000000001", "o'brien & sons", "ünïcødé ✓"]
    for n, stream_id in enumerate(tricky):
        await event_source.append(ORG, stream_id, 0, history(stream_id, n + 1))

    for n, stream_id in enumerate(tricky):
        loaded = await event_source.load(ORG, stream_id)
        assert {e.metadata.source_id for e in loaded} == {stream_id}
        assert len(loaded) == n + 1
    assert sorted([i async for i in event_source.stream_ids(ORG)]) == sorted(tricky)


@pytest.mark.parametrize(
    ("stream_type", "stream_id"),
    [
        (ORG, "a/b"),
        (ORG, "a\\b"),
        (ORG, "a#b"),
        (ORG, "a?b"),
        (ORG, "a\nb"),
        (ORG, "a\x7fb"),
        (ORG, ""),
        (ORG, "x" * 502),
        (ORG, "$outbox_a"),
        ("Org/Sub", "a"),
        ("", "a"),
    ],
)
async def test_invalid_keys_are_refused_and_nothing_is_written(
    event_source: EventSource, stream_type: str, stream_id: str
) -> None:
    events = recorded(stream_type, stream_id, [OrganizationRegistered(name="bad")])

    with pytest.raises(InvalidKeyError):
        await event_source.append(stream_type, stream_id, 0, events)
    with pytest.raises(InvalidKeyError):
        await event_source.load(stream_type, stream_id)


async def test_the_longest_valid_id_round_trips(event_source: EventSource) -> None:
    stream_id = "x" * 501
    await event_source.append(ORG, stream_id, 0, history(stream_id, 1))

    assert len(await event_source.load(ORG, stream_id)) == 1


async def test_events_of_another_stream_are_refused(event_source: EventSource) -> None:
    with pytest.raises(StreamIntegrityError, match="Organization/other"):
        await event_source.append(ORG, "acme", 0, history("other", 1))
    with pytest.raises(StreamIntegrityError, match="version 2, expected 1"):
        await event_source.append(ORG, "acme", 0, history("acme", 1, start_version=2))
    with pytest.raises(StreamIntegrityError, match="no metadata"):
        await event_source.append(ORG, "acme", 0, [OrganizationRenamed(name="unstamped")])

    assert await event_source.load(ORG, "acme") == []


class Opaque:
    def __init__(self, value: int) -> None:
        self.value = value


class CarriesAnObject(Event, type_name="CarriesAnObject"):
    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)
    thing: Any


async def test_an_unserialisable_payload_is_refused_and_nothing_is_written(event_source: EventSource) -> None:
    events = [*history("acme", 1), *recorded(ORG, "acme", [CarriesAnObject(thing=Opaque(1))], start_version=2)]

    with pytest.raises(SerializationError, match=r"CarriesAnObject.*Organization/acme.*version 2"):
        await event_source.append(ORG, "acme", 0, events)

    assert await event_source.load(ORG, "acme") == []


class Unregistered(Event, type_name="NeverRegistered"):
    note: str


async def test_an_unknown_event_type_on_load_names_type_stream_and_version(event_source: EventSource) -> None:
    events = [*history("acme", 1), *recorded(ORG, "acme", [Unregistered(note="?")], start_version=2)]
    await event_source.append(ORG, "acme", 0, events)

    with pytest.raises(UnknownEventTypeError) as raised:
        await event_source.load(ORG, "acme")

    message = str(raised.value)
    assert "NeverRegistered" in message
    assert "Organization/acme" in message
    assert "version 2" in message


class PriceV1(Event, type_name="PriceSet", schema_version=1):
    amount: str


class PriceV2(Event, type_name="PriceSet", schema_version=2):
    amount: Decimal
    currency: str


async def test_old_schema_versions_are_upcast_on_load(event_source: EventSource) -> None:
    await event_source.append("Product", "p1", 0, recorded("Product", "p1", [PriceV1(amount="9.50")]))
    event_source.registry.register(PriceV2)
    event_source.registry.add_upcaster("PriceSet", 1, lambda data: {**data, "currency": "EUR"})

    (loaded,) = await event_source.load("Product", "p1")

    assert loaded == PriceV2(amount=Decimal("9.50"), currency="EUR")
    assert loaded.metadata.schema_version == 2


async def test_times_keep_microseconds_and_utc(event_source: EventSource) -> None:
    when = datetime(2026, 3, 4, 5, 6, 7, 891234, tzinfo=UTC)
    await event_source.append(ORG, "acme", 0, recorded(ORG, "acme", [OrganizationRegistered(name="A")], when=when))

    (loaded,) = await event_source.load(ORG, "acme")

    assert loaded.metadata.when == when


async def test_loaded_events_carry_the_stores_commit_time(event_source: EventSource) -> None:
    before = datetime.now(UTC) - timedelta(minutes=1)
    await event_source.append(ORG, "acme", 0, history("acme", 2))

    loaded = await event_source.load(ORG, "acme")

    for event in loaded:
        assert event.metadata.stored_at is not None
        assert event.metadata.stored_at.tzinfo is not None
        assert event.metadata.stored_at >= before


async def test_read_changes_returns_only_what_was_stored_since(event_source: EventSource) -> None:
    await event_source.append(ORG, "old", 0, history("old", 2))
    await event_source.append(ORG, "grows", 0, history("grows", 2))
    first = await event_source.load(ORG, "grows")
    stored_at = first[-1].metadata.stored_at
    assert stored_at is not None
    since = await _strictly_later_commit(event_source, stored_at)
    await event_source.append(ORG, "grows", 2, history("grows", 2, start_version=3))
    await event_source.append(ORG, "new", 0, history("new", 1))

    changes = {s.stream_id: [e.metadata.version for e in s.events] async for s in event_source.read_changes(ORG, since)}
    everything = {s.stream_id: len(s.events) async for s in event_source.read_changes(ORG)}

    assert changes == {"grows": [3, 4], "new": [1]}
    assert everything == {"old": 2, "grows": 4, "new": 1}


async def _strictly_later_commit(event_source: EventSource, after: datetime) -> datetime:
    """Write marker events until the store's clock has moved past `after`; return the first later time.

    Store clocks may have coarse resolution, so this polls with a deadline instead of sleeping blindly.
    """
    deadline = asyncio.get_running_loop().time() + 10
    version = 0
    while True:
        await event_source.append(
            "Marker", "m", version, history("m", 1, start_version=version + 1, stream_type="Marker")
        )
        version += 1
        (marker,) = await event_source.load("Marker", "m", from_version=version)
        stored_at = marker.metadata.stored_at
        assert stored_at is not None
        if stored_at > after:
            return stored_at
        assert asyncio.get_running_loop().time() < deadline, "the store's clock did not advance"
