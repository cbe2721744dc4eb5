"""The limits part of the contract, for event sources that promise Table Storage's limits.

The built-in sources both do (the in-memory one by default), so a test that passes in memory does not
fail in production. A store with other limits leaves this suite out and documents its own.

    class TestMyStore(EventSourceContract, TableLimitsContract):
        async def make_source(self, registry: EventTypeRegistry, *, outbox: bool) -> EventSource: ...
"""

from __future__ import annotations

from messagehandler.eventsource.limit_errors import (
    EntityTooLargeError,
    PropertyTooLargeError,
    TableLimitError,
    TooManyEntitiesError,
    TransactionTooLargeError,
)
from messagehandler.eventsource.limits import DEFAULT_LIMITS
from messagehandler.eventsource.protocol import EventSource
from messagehandler.testing._pytest import pytest
from messagehandler.testing.recording import recorded
from messagehandler.testing.round_trip import METADATA_COLUMNS, with_metadata
from messagehandler.testing.source_factory import SourceFactory
from messagehandler.testing.streams import STREAM_TYPE, Renamed, history

TOO_LONG = DEFAULT_LIMITS.string_units + 1


class TableLimitsContract(SourceFactory):
    """Appends beyond Table Storage's limits are refused with a `TableLimitError`, and nothing is written."""

    async def test_a_hundred_events_fit_one_append_and_a_hundred_and_one_do_not(
        self, event_source: EventSource
    ) -> None:
        with pytest.raises(TooManyEntitiesError) as raised:
            await event_source.append(STREAM_TYPE, "many", 0, history("many", 101))

        assert (raised.value.stream, raised.value.actual, raised.value.maximum) == (f"{STREAM_TYPE}/many", 101, 100)
        assert await event_source.load(STREAM_TYPE, "many") == []
        await event_source.append(STREAM_TYPE, "many", 0, history("many", 100))
        assert len(await event_source.load(STREAM_TYPE, "many")) == 100

    async def test_with_the_outbox_its_row_takes_one_of_the_hundred(self, outbox_source: EventSource) -> None:
        with pytest.raises(TooManyEntitiesError) as raised:
            await outbox_source.append(STREAM_TYPE, "many", 0, history("many", 100))

        assert raised.value.actual == 101
        assert any("outbox row" in note and "99 events" in note for note in raised.value.__notes__)
        assert await outbox_source.load(STREAM_TYPE, "many") == []
        await outbox_source.append(STREAM_TYPE, "many", 0, history("many", 99))
        assert len(await outbox_source.load(STREAM_TYPE, "many")) == 99

    async def test_an_event_over_one_mebibyte_is_refused(self, event_source: EventSource) -> None:
        events = recorded(STREAM_TYPE, "big", [Renamed(name="ok"), Renamed(name="x" * 530_000)])

        with pytest.raises(EntityTooLargeError) as raised:
            await event_source.append(STREAM_TYPE, "big", 0, events)

        assert raised.value.version == 2
        assert raised.value.actual > DEFAULT_LIMITS.entity_bytes
        assert await event_source.load(STREAM_TYPE, "big") == []

    async def test_an_append_of_four_mebibytes_is_refused(self, event_source: EventSource) -> None:
        events = recorded(STREAM_TYPE, "big", [Renamed(name="y" * 450_000) for _ in range(10)])

        with pytest.raises(TransactionTooLargeError) as raised:
            await event_source.append(STREAM_TYPE, "big", 0, events)

        assert raised.value.actual >= DEFAULT_LIMITS.transaction_bytes
        assert await event_source.load(STREAM_TYPE, "big") == []

    @pytest.mark.parametrize("column", METADATA_COLUMNS)
    @pytest.mark.parametrize("text", ["w" * TOO_LONG, "\U0001f600" * (TOO_LONG // 2 + 1)], ids=["ascii", "emoji"])
    async def test_every_metadata_column_is_held_to_the_string_property_limit(
        self, event_source: EventSource, column: str, text: str
    ) -> None:
        good, bad = history("meta", 2)

        with pytest.raises(PropertyTooLargeError) as raised:
            await event_source.append(STREAM_TYPE, "meta", 0, [good, with_metadata(bad, **{column: text})])

        error = raised.value
        assert isinstance(error, TableLimitError)
        assert error.version == 2
        assert error.actual > DEFAULT_LIMITS.string_units
        assert column.replace("_", "") in error.column.lower()
        assert await event_source.load(STREAM_TYPE, "meta") == []

    async def test_metadata_as_long_as_allowed_is_stored(self, event_source: EventSource) -> None:
        (event,) = history("meta", 1)
        longest = with_metadata(event, who="w" * DEFAULT_LIMITS.string_units)

        await event_source.append(STREAM_TYPE, "meta", 0, [longest])

        (loaded,) = await event_source.load(STREAM_TYPE, "meta")
        assert loaded.metadata.who == longest.metadata.who
