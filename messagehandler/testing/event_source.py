"""The EventSource contract as a base class: subclass it and every test below runs against your store.

    class TestMyStore(EventSourceContract):
        async def make_source(self, registry: EventTypeRegistry, *, outbox: bool) -> EventSource:
            return MyStore(registry=registry, outbox=outbox)

The same suite proves the built-in in-memory and Table Storage sources. A store that needs per-test
resources (a table, a container) gets them from an autouse fixture method that keeps them on `self`,
because pytest runs a class's fixture methods on the instance that runs the test. The base class name
does not start with `Test`, so pytest collects only your subclass. The suite writes its own event types
(`messagehandler.testing.streams`), never the application's.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import ConfigDict

from messagehandler import (
    ConcurrencyError,
    InvalidKeyError,
    SerializationError,
    StreamIntegrityError,
    UnknownEventTypeError,
)
from messagehandler.events.event import Event
from messagehandler.eventsource.protocol import EventSource
from messagehandler.testing._pytest import pytest
from messagehandler.testing.bad_rows import BadRowsContract
from messagehandler.testing.recording import recorded
from messagehandler.testing.round_trip import RoundTripContract
from messagehandler.testing.streams import (
    STREAM_TYPE,
    Opened,
    Renamed,
    history,
    strictly_later_commit,
)


class Opaque:
    def __init__(self, value: int) -> None:
        self.value = value


class CarriesAnObject(Event, type_name="messagehandler.testing.CarriesAnObject"):
    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)
    thing: Any


class Unregistered(Event, type_name="messagehandler.testing.NeverRegistered"):
    note: str


class PriceV1(Event, type_name="messagehandler.testing.PriceSet", schema_version=1):
    amount: str


class PriceV2(Event, type_name="messagehandler.testing.PriceSet", schema_version=2):
    amount: Decimal
    currency: str


class EventSourceContract(RoundTripContract, BadRowsContract):
    """What every `EventSource` must do: atomic appends, conflicts, exact round trips, refusals before writing."""

    async def test_a_missing_stream_loads_empty(self, event_source: EventSource) -> None:
        assert await event_source.load(STREAM_TYPE, "nobody") == []

    async def test_appended_events_load_with_payload_and_metadata(self, event_source: EventSource) -> None:
        events = recorded(
            STREAM_TYPE,
            "acme",
            [Opened(name="Acme", country="BE"), Renamed(name="Acme Corp")],
            who="alice",
            correlation_id="corr-1",
            causation_id="cmd-1",
            tenant_id="tenant-9",
        )
        await event_source.append(STREAM_TYPE, "acme", 0, events)

        loaded = await event_source.load(STREAM_TYPE, "acme")

        assert loaded == events
        assert [type(e) for e in loaded] == [Opened, Renamed]
        assert [e.metadata for e in loaded] == [e.metadata for e in events]
        assert loaded[0].metadata.when.tzinfo is not None
        assert loaded[0] is not events[0]

    async def test_load_from_a_version(self, event_source: EventSource) -> None:
        await event_source.append(STREAM_TYPE, "acme", 0, history("acme", 5))

        loaded = await event_source.load(STREAM_TYPE, "acme", from_version=3)

        assert [e.metadata.version for e in loaded] == [3, 4, 5]

    async def test_appends_continue_a_stream(self, event_source: EventSource) -> None:
        await event_source.append(STREAM_TYPE, "acme", 0, history("acme", 2))
        await event_source.append(STREAM_TYPE, "acme", 2, history("acme", 3, start_version=3))

        loaded = await event_source.load(STREAM_TYPE, "acme")

        assert [e.metadata.version for e in loaded] == [1, 2, 3, 4, 5]

    async def test_an_empty_append_writes_nothing(self, event_source: EventSource) -> None:
        await event_source.append(STREAM_TYPE, "acme", 0, [])

        assert await event_source.load(STREAM_TYPE, "acme") == []
        assert [i async for i in event_source.stream_ids(STREAM_TYPE)] == []

    async def test_a_stale_expected_version_raises_and_writes_nothing(self, event_source: EventSource) -> None:
        await event_source.append(STREAM_TYPE, "acme", 0, history("acme", 3))
        competing = history("acme", 2, start_version=3)

        with pytest.raises(ConcurrencyError) as raised:
            await event_source.append(
                STREAM_TYPE, "acme", 2, recorded(STREAM_TYPE, "acme", [Renamed(name="late")], start_version=3)
            )

        assert (raised.value.stream_type, raised.value.stream_id) == (STREAM_TYPE, "acme")
        assert (raised.value.expected_version, raised.value.actual_version) == (2, 3)
        assert f"{STREAM_TYPE}/acme" in str(raised.value)
        await event_source.append(STREAM_TYPE, "acme", 3, history("acme", 2, start_version=4))
        assert len(await event_source.load(STREAM_TYPE, "acme")) == 5
        assert competing  # the losing events were never stored
        stored_ids = {e.metadata.event_id for e in await event_source.load(STREAM_TYPE, "acme")}
        assert not stored_ids & {e.metadata.event_id for e in competing}

    async def test_appending_to_a_stream_that_does_not_exist_yet_with_a_version_conflicts(
        self,
        event_source: EventSource,
    ) -> None:
        with pytest.raises(ConcurrencyError) as raised:
            await event_source.append(STREAM_TYPE, "ghost", 2, history("ghost", 1, start_version=3))

        assert raised.value.actual_version == 0
        assert [i async for i in event_source.stream_ids(STREAM_TYPE)] == []

    async def test_two_writers_at_the_same_version_one_wins(self, event_source: EventSource) -> None:
        await event_source.append(STREAM_TYPE, "acme", 0, history("acme", 1))
        first = recorded(STREAM_TYPE, "acme", [Renamed(name="first"), Renamed(name="first again")], start_version=2)
        second = recorded(STREAM_TYPE, "acme", [Renamed(name="second")], start_version=2)

        outcomes = await asyncio.gather(
            event_source.append(STREAM_TYPE, "acme", 1, first),
            event_source.append(STREAM_TYPE, "acme", 1, second),
            return_exceptions=True,
        )

        errors = [o for o in outcomes if isinstance(o, BaseException)]
        assert len(errors) == 1
        assert isinstance(errors[0], ConcurrencyError)
        loaded = await event_source.load(STREAM_TYPE, "acme")
        winner = first if outcomes[0] is None else second
        assert [e.metadata.event_id for e in loaded[1:]] == [e.metadata.event_id for e in winner]

    async def test_a_retried_append_of_the_same_events_succeeds_without_duplicates(
        self, event_source: EventSource
    ) -> None:
        events = history("acme", 3)
        await event_source.append(STREAM_TYPE, "acme", 0, events)

        await event_source.append(STREAM_TYPE, "acme", 0, events)

        loaded = await event_source.load(STREAM_TYPE, "acme")
        assert [e.metadata.event_id for e in loaded] == [e.metadata.event_id for e in events]

    async def test_a_retry_with_other_event_ids_is_a_conflict(self, event_source: EventSource) -> None:
        await event_source.append(STREAM_TYPE, "acme", 0, history("acme", 2))

        with pytest.raises(ConcurrencyError):
            await event_source.append(STREAM_TYPE, "acme", 0, history("acme", 2))

    async def test_read_type_yields_each_stream_whole_and_in_order(self, event_source: EventSource) -> None:
        sizes = {f"org-{n:02d}": 1 + n % 4 for n in range(12)}
        for stream_id, size in sizes.items():
            await event_source.append(STREAM_TYPE, stream_id, 0, history(stream_id, size))
        await event_source.append("Person", "p1", 0, history("p1", 2, stream_type="Person"))

        streams = [s async for s in event_source.read_type(STREAM_TYPE)]

        assert sorted(s.stream_id for s in streams) == sorted(sizes)
        for stream in streams:
            assert stream.stream_type == STREAM_TYPE
            assert [e.metadata.version for e in stream.events] == list(range(1, sizes[stream.stream_id] + 1))
            assert {e.metadata.source_id for e in stream.events} == {stream.stream_id}
            assert stream.version == sizes[stream.stream_id]

    async def test_read_type_of_an_unknown_type_is_empty(self, event_source: EventSource) -> None:
        assert [s async for s in event_source.read_type("Nothing")] == []

    async def test_stream_ids_lists_only_that_type(self, event_source: EventSource) -> None:
        for stream_id in ("a", "b", "c"):
            await event_source.append(STREAM_TYPE, stream_id, 0, history(stream_id, 2))
        await event_source.append("Person", "p1", 0, history("p1", 1, stream_type="Person"))

        assert sorted([i async for i in event_source.stream_ids(STREAM_TYPE)]) == ["a", "b", "c"]
        assert [i async for i in event_source.stream_ids("Person")] == ["p1"]

    async def test_ids_that_look_like_query_syntax_stay_apart(self, event_source: EventSource) -> None:
        tricky = ["x' or PartitionKey ne '", "x", "x'", "x_0000000001", "o'brien & sons", "ünïcødé ✓"]
        for n, stream_id in enumerate(tricky):
            await event_source.append(STREAM_TYPE, stream_id, 0, history(stream_id, n + 1))

        for n, stream_id in enumerate(tricky):
            loaded = await event_source.load(STREAM_TYPE, stream_id)
            assert {e.metadata.source_id for e in loaded} == {stream_id}
            assert len(loaded) == n + 1
        assert sorted([i async for i in event_source.stream_ids(STREAM_TYPE)]) == sorted(tricky)

    @pytest.mark.parametrize(
        ("stream_type", "stream_id"),
        [
            (STREAM_TYPE, "a/b"),
            (STREAM_TYPE, "a\\b"),
            (STREAM_TYPE, "a#b"),
            (STREAM_TYPE, "a?b"),
            (STREAM_TYPE, "a\nb"),
            (STREAM_TYPE, "a\x7fb"),
            (STREAM_TYPE, ""),
            (STREAM_TYPE, "x" * 502),
            (STREAM_TYPE, "\U0001f600" * 251),
            (STREAM_TYPE, "a\ud800b"),
            (STREAM_TYPE, "$outbox_a"),
            ("Org/Sub", "a"),
            ("", "a"),
            ("\U0001f600" * 255, "a"),
            ("T\udc00", "a"),
        ],
        ids=[
            "slash",
            "backslash",
            "hash",
            "question mark",
            "newline",
            "delete",
            "empty id",
            "502 characters",
            "251 emoji (502 UTF-16 units)",
            "lone surrogate in the id",
            "reserved prefix",
            "slash in the type",
            "empty type",
            "255 emoji type (510 UTF-16 units)",
            "lone surrogate in the type",
        ],
    )
    async def test_invalid_keys_are_refused_and_nothing_is_written(
        self, event_source: EventSource, stream_type: str, stream_id: str
    ) -> None:
        events = recorded(stream_type, stream_id, [Opened(name="bad")])

        with pytest.raises(InvalidKeyError):
            await event_source.append(stream_type, stream_id, 0, events)
        with pytest.raises(InvalidKeyError):
            await event_source.load(stream_type, stream_id)

    @pytest.mark.parametrize(
        ("stream_type", "stream_id"),
        [(STREAM_TYPE, "x" * 501), (STREAM_TYPE, "\U0001f600" * 250 + "x"), ("\U0001f600" * 254 + "x", "a")],
        ids=["501 characters", "250 emoji and one more unit", "509-unit type"],
    )
    async def test_the_longest_valid_keys_round_trip(
        self, event_source: EventSource, stream_type: str, stream_id: str
    ) -> None:
        await event_source.append(stream_type, stream_id, 0, history(stream_id, 2, stream_type=stream_type))

        assert len(await event_source.load(stream_type, stream_id)) == 2
        assert [i async for i in event_source.stream_ids(stream_type)] == [stream_id]

    async def test_events_of_another_stream_are_refused(self, event_source: EventSource) -> None:
        with pytest.raises(StreamIntegrityError, match=f"{STREAM_TYPE}/other"):
            await event_source.append(STREAM_TYPE, "acme", 0, history("other", 1))
        with pytest.raises(StreamIntegrityError, match="version 2, expected 1"):
            await event_source.append(STREAM_TYPE, "acme", 0, history("acme", 1, start_version=2))
        with pytest.raises(StreamIntegrityError, match="no metadata"):
            await event_source.append(STREAM_TYPE, "acme", 0, [Renamed(name="unstamped")])

        assert await event_source.load(STREAM_TYPE, "acme") == []

    async def test_an_unserialisable_payload_is_refused_and_nothing_is_written(self, event_source: EventSource) -> None:
        events = [
            *history("acme", 1),
            *recorded(STREAM_TYPE, "acme", [CarriesAnObject(thing=Opaque(1))], start_version=2),
        ]

        with pytest.raises(SerializationError, match=rf"CarriesAnObject.*{STREAM_TYPE}/acme.*version 2"):
            await event_source.append(STREAM_TYPE, "acme", 0, events)

        assert await event_source.load(STREAM_TYPE, "acme") == []

    async def test_an_unknown_event_type_on_load_names_type_stream_and_version(self, event_source: EventSource) -> None:
        events = [*history("acme", 1), *recorded(STREAM_TYPE, "acme", [Unregistered(note="?")], start_version=2)]
        await event_source.append(STREAM_TYPE, "acme", 0, events)

        with pytest.raises(UnknownEventTypeError) as raised:
            await event_source.load(STREAM_TYPE, "acme")

        message = str(raised.value)
        assert "NeverRegistered" in message
        assert f"{STREAM_TYPE}/acme" in message
        assert "version 2" in message

    async def test_old_schema_versions_are_upcast_on_load(self, event_source: EventSource) -> None:
        await event_source.append("Product", "p1", 0, recorded("Product", "p1", [PriceV1(amount="9.50")]))
        event_source.registry.register(PriceV2)
        event_source.registry.add_upcaster(
            "messagehandler.testing.PriceSet", 1, lambda data: {**data, "currency": "EUR"}
        )

        (loaded,) = await event_source.load("Product", "p1")

        assert loaded == PriceV2(amount=Decimal("9.50"), currency="EUR")
        assert loaded.metadata.schema_version == 2

    async def test_times_keep_microseconds_and_utc(self, event_source: EventSource) -> None:
        when = datetime(2026, 3, 4, 5, 6, 7, 891234, tzinfo=UTC)
        await event_source.append(STREAM_TYPE, "acme", 0, recorded(STREAM_TYPE, "acme", [Opened(name="A")], when=when))

        (loaded,) = await event_source.load(STREAM_TYPE, "acme")

        assert loaded.metadata.when == when

    async def test_loaded_events_carry_the_stores_commit_time(self, event_source: EventSource) -> None:
        before = datetime.now(UTC) - timedelta(minutes=1)
        await event_source.append(STREAM_TYPE, "acme", 0, history("acme", 2))

        loaded = await event_source.load(STREAM_TYPE, "acme")

        for event in loaded:
            assert event.metadata.stored_at is not None
            assert event.metadata.stored_at.tzinfo is not None
            assert event.metadata.stored_at >= before

    async def test_read_changes_returns_only_what_was_stored_since(self, event_source: EventSource) -> None:
        await event_source.append(STREAM_TYPE, "old", 0, history("old", 2))
        await event_source.append(STREAM_TYPE, "grows", 0, history("grows", 2))
        first = await event_source.load(STREAM_TYPE, "grows")
        stored_at = first[-1].metadata.stored_at
        assert stored_at is not None
        since = await strictly_later_commit(event_source, stored_at)
        await event_source.append(STREAM_TYPE, "grows", 2, history("grows", 2, start_version=3))
        await event_source.append(STREAM_TYPE, "new", 0, history("new", 1))

        changes = {
            s.stream_id: [e.metadata.version for e in s.events]
            async for s in event_source.read_changes(STREAM_TYPE, since)
        }
        everything = {s.stream_id: len(s.events) async for s in event_source.read_changes(STREAM_TYPE)}

        assert changes == {"grows": [3, 4], "new": [1]}
        assert everything == {"old": 2, "grows": 4, "new": 1}
