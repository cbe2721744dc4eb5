"""The bad-row part of the EventSource contract: one unreadable row stops a bulk read by default, and
an explicit `SkipBadRows` policy skips its stream and reports it instead. `EventSourceContract`
includes these tests.

The unreadable row is a stored event whose body its class refuses on read (built with
`model_construct`, which skips validation on write), so the suite needs no access to the store's rows.
"""

from __future__ import annotations

from pydantic import Field

from messagehandler.errors import SerializationError, UnreadableEventError
from messagehandler.events.event import Event
from messagehandler.eventsource.bad_rows import SkipBadRows
from messagehandler.eventsource.protocol import EventSource, EventStream
from messagehandler.testing._pytest import pytest, pytest_asyncio
from messagehandler.testing.recording import recorded
from messagehandler.testing.source_factory import SourceFactory
from messagehandler.testing.streams import STREAM_TYPE, Opened, history


class Counted(Event, type_name="messagehandler.testing.Counted"):
    count: int = Field(ge=0)


def with_a_bad_row(stream_id: str) -> list[Event]:
    """Versions 1..3 of a stream whose version 2 is stored but cannot be read back."""
    unreadable = Counted.model_construct(count=-1)
    return recorded(STREAM_TYPE, stream_id, [Opened(name=stream_id), unreadable, Counted(count=3)])


async def streams(reading: object) -> dict[str, int]:
    return {stream.stream_id: stream.version async for stream in reading}  # type: ignore[attr-defined]


class BadRowsContract(SourceFactory):
    """Bulk reads stop at an unreadable row, naming it, unless told to skip; `load` never skips."""

    @pytest_asyncio.fixture
    async def with_bad_row(self, event_source: EventSource) -> EventSource:
        event_source.registry.register(Counted)
        await event_source.append(STREAM_TYPE, "good-1", 0, history("good-1", 2))
        await event_source.append(STREAM_TYPE, "bad", 0, with_a_bad_row("bad"))
        await event_source.append(STREAM_TYPE, "good-2", 0, history("good-2", 3))
        return event_source

    @pytest.mark.parametrize("read", ["read_type", "read_changes"])
    async def test_an_unreadable_row_stops_a_bulk_read_naming_it(self, with_bad_row: EventSource, read: str) -> None:
        with pytest.raises(UnreadableEventError) as raised:
            await streams(getattr(with_bad_row, read)(STREAM_TYPE))

        error = raised.value
        assert isinstance(error, SerializationError)
        assert (error.stream, error.version) == (f"{STREAM_TYPE}/bad", 2)
        assert error.reason
        assert error.__cause__ is not None
        assert f"{STREAM_TYPE}/bad" in str(error)

    @pytest.mark.parametrize("read", ["read_type", "read_changes"])
    async def test_a_skip_policy_leaves_out_the_stream_and_reports_the_row(
        self, with_bad_row: EventSource, read: str
    ) -> None:
        seen: list[UnreadableEventError] = []
        bad_rows = SkipBadRows(on_skip=seen.append)

        result = await streams(getattr(with_bad_row, read)(STREAM_TYPE, bad_rows=bad_rows))

        assert result == {"good-1": 2, "good-2": 3}
        assert [(e.stream, e.version) for e in bad_rows.skipped] == [(f"{STREAM_TYPE}/bad", 2)]
        assert seen == bad_rows.skipped
        assert bad_rows.streams == [f"{STREAM_TYPE}/bad"]

    async def test_loading_a_stream_with_an_unreadable_row_never_skips(self, with_bad_row: EventSource) -> None:
        with pytest.raises(SerializationError):
            await with_bad_row.load(STREAM_TYPE, "bad")
        assert [e.metadata.version for e in await with_bad_row.load(STREAM_TYPE, "bad", from_version=3)] == [3]

    async def test_a_read_without_bad_rows_reports_nothing(self, event_source: EventSource) -> None:
        await event_source.append(STREAM_TYPE, "fine", 0, history("fine", 2))
        bad_rows = SkipBadRows()

        result = [s async for s in event_source.read_type(STREAM_TYPE, bad_rows=bad_rows)]

        assert [(s.stream_id, s.version) for s in result] == [("fine", 2)]
        assert all(isinstance(s, EventStream) for s in result)
        assert bad_rows.skipped == []
