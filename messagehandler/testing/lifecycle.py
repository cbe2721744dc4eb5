"""The stream lifecycle contract (archive and delete) as a base class, for event sources that offer them.

    class TestMyStoreLifecycle(StreamLifecycleContract):
        async def make_source(self, registry: EventTypeRegistry, *, outbox: bool) -> EventSource:
            return MyStore(registry=registry, outbox=outbox)

The source must implement `messagehandler.eventsource.lifecycle.StreamLifecycle`.
"""

from __future__ import annotations

from datetime import timedelta

from messagehandler.errors import ConcurrencyError
from messagehandler.eventsource.lifecycle import (
    StreamArchivedError,
    StreamDeletedError,
    StreamLifecycle,
    StreamNotFoundError,
    StreamState,
    UnpublishedEventsError,
)
from messagehandler.eventsource.outbox import Outbox
from messagehandler.eventsource.positions import TypePosition, catch_up
from messagehandler.eventsource.protocol import EventSource
from messagehandler.testing._pytest import pytest
from messagehandler.testing.recording import recorded
from messagehandler.testing.source_factory import SourceFactory
from messagehandler.testing.streams import STREAM_TYPE, Renamed, history


def lifecycle_of(source: EventSource) -> StreamLifecycle:
    assert isinstance(source, StreamLifecycle), f"{type(source).__qualname__} does not offer archive and delete"
    return source


async def ids(source: EventSource) -> list[str]:
    return sorted([stream.stream_id async for stream in source.read_type(STREAM_TYPE)])


class StreamLifecycleContract(SourceFactory):
    """Archive hides a stream from bulk reads and freezes it; delete removes it and keeps its id taken."""

    async def test_an_archived_stream_is_left_out_of_bulk_reads_and_still_loads(
        self, event_source: EventSource
    ) -> None:
        await event_source.append(STREAM_TYPE, "old", 0, history("old", 3))
        await event_source.append(STREAM_TYPE, "new", 0, history("new", 2))

        record = await lifecycle_of(event_source).archive(STREAM_TYPE, "old", who="ops", reason="closed in 2019")

        assert (record.state, record.last_version, record.who, record.reason) == (
            StreamState.ARCHIVED,
            3,
            "ops",
            "closed in 2019",
        )
        assert await ids(event_source) == ["new"]
        assert [s.stream_id async for s in event_source.read_changes(STREAM_TYPE, record.when - timedelta(days=1))] == [
            "new"
        ]
        assert [s.stream_id async for s in catch_up(event_source, STREAM_TYPE, TypePosition())] == ["new"]
        assert [e.metadata.version for e in await event_source.load(STREAM_TYPE, "old")] == [1, 2, 3]
        archived = [(s.stream_id, len(s.events)) async for s in lifecycle_of(event_source).read_archived(STREAM_TYPE)]
        assert archived == [("old", 3)]
        assert await lifecycle_of(event_source).lifecycle(STREAM_TYPE, "old") == record
        assert await lifecycle_of(event_source).lifecycle(STREAM_TYPE, "new") is None

    async def test_an_archived_stream_refuses_appends_until_unarchived(self, event_source: EventSource) -> None:
        await event_source.append(STREAM_TYPE, "old", 0, history("old", 2))
        await lifecycle_of(event_source).archive(STREAM_TYPE, "old")

        with pytest.raises(StreamArchivedError, match=f"{STREAM_TYPE}/old"):
            await event_source.append(STREAM_TYPE, "old", 2, history("old", 1, start_version=3))
        with pytest.raises((StreamArchivedError, ConcurrencyError)):
            await event_source.append(STREAM_TYPE, "old", 3, history("old", 1, start_version=4))

        assert await lifecycle_of(event_source).unarchive(STREAM_TYPE, "old") is True
        await event_source.append(STREAM_TYPE, "old", 2, history("old", 1, start_version=3))
        assert await ids(event_source) == ["old"]
        assert await lifecycle_of(event_source).unarchive(STREAM_TYPE, "old") is False

    async def test_archiving_twice_keeps_the_first_record(self, event_source: EventSource) -> None:
        await event_source.append(STREAM_TYPE, "old", 0, history("old", 1))
        first = await lifecycle_of(event_source).archive(STREAM_TYPE, "old", who="a")

        assert await lifecycle_of(event_source).archive(STREAM_TYPE, "old", who="b") == first

    async def test_a_deleted_stream_is_gone_and_its_id_cannot_start_again(self, event_source: EventSource) -> None:
        await event_source.append(STREAM_TYPE, "gone", 0, history("gone", 3))
        await event_source.append(STREAM_TYPE, "kept", 0, history("kept", 1))

        record = await lifecycle_of(event_source).delete(STREAM_TYPE, "gone", who="dpo", reason="test data")

        assert (record.state, record.last_version, record.who) == (StreamState.DELETED, 3, "dpo")
        with pytest.raises(StreamDeletedError, match=f"{STREAM_TYPE}/gone"):
            await event_source.load(STREAM_TYPE, "gone")
        with pytest.raises(StreamDeletedError):
            await event_source.append(STREAM_TYPE, "gone", 0, history("gone", 1))
        with pytest.raises(StreamDeletedError):
            await event_source.append(STREAM_TYPE, "gone", 3, history("gone", 1, start_version=4))
        assert await ids(event_source) == ["kept"]
        assert sorted([i async for i in event_source.stream_ids(STREAM_TYPE)]) == ["kept"]
        assert await lifecycle_of(event_source).lifecycle(STREAM_TYPE, "gone") == record
        assert [s async for s in lifecycle_of(event_source).read_archived(STREAM_TYPE)] == []

    async def test_a_writer_that_loaded_before_the_delete_cannot_append(self, event_source: EventSource) -> None:
        await event_source.append(STREAM_TYPE, "gone", 0, history("gone", 2))
        await lifecycle_of(event_source).delete(STREAM_TYPE, "gone")

        with pytest.raises((StreamDeletedError, ConcurrencyError)):
            await event_source.append(
                STREAM_TYPE, "gone", 1, recorded(STREAM_TYPE, "gone", [Renamed(name="x")], start_version=2)
            )
        with pytest.raises(StreamDeletedError):
            await event_source.load(STREAM_TYPE, "gone", from_version=2)

    @pytest.mark.parametrize("action", ["archive", "delete"])
    async def test_a_writer_that_loaded_before_a_competing_append_collides_with_the_retired_stream(
        self, outbox_source: EventSource, action: str
    ) -> None:
        assert isinstance(outbox_source, Outbox)
        await outbox_source.append(STREAM_TYPE, "late", 0, history("late", 2))
        competing = recorded(STREAM_TYPE, "late", [Renamed(name="competing")], start_version=3)
        await outbox_source.append(STREAM_TYPE, "late", 2, competing, version_known=True)
        async for entry in outbox_source.pending(STREAM_TYPE):
            await outbox_source.clear(entry)
        await getattr(lifecycle_of(outbox_source), action)(STREAM_TYPE, "late")
        retired = StreamArchivedError if action == "archive" else StreamDeletedError

        for loaded_at in (1, 2):
            stale = recorded(STREAM_TYPE, "late", [Renamed(name="stale")], start_version=loaded_at + 1)
            with pytest.raises(retired, match=f"{STREAM_TYPE}/late"):
                await outbox_source.append(STREAM_TYPE, "late", loaded_at, stale, version_known=True)

        assert [e async for e in outbox_source.pending(STREAM_TYPE)] == []
        if action == "archive":
            loaded = await outbox_source.load(STREAM_TYPE, "late")
            assert [e.metadata.event_id for e in loaded[2:]] == [competing[0].metadata.event_id]
        else:
            for from_version in (1, 3):
                with pytest.raises(StreamDeletedError):
                    await outbox_source.load(STREAM_TYPE, "late", from_version=from_version)

    async def test_deleting_twice_or_after_archiving_works(self, event_source: EventSource) -> None:
        await event_source.append(STREAM_TYPE, "a", 0, history("a", 2))
        await lifecycle_of(event_source).archive(STREAM_TYPE, "a")

        deleted = await lifecycle_of(event_source).delete(STREAM_TYPE, "a", who="x")

        assert deleted.state is StreamState.DELETED
        assert await lifecycle_of(event_source).delete(STREAM_TYPE, "a", who="y") == deleted
        with pytest.raises(StreamDeletedError):
            await lifecycle_of(event_source).archive(STREAM_TYPE, "a")

    async def test_a_stream_without_events_cannot_be_archived_or_deleted(self, event_source: EventSource) -> None:
        with pytest.raises(StreamNotFoundError):
            await lifecycle_of(event_source).archive(STREAM_TYPE, "nobody")
        with pytest.raises(StreamNotFoundError):
            await lifecycle_of(event_source).delete(STREAM_TYPE, "nobody")

    async def test_both_are_refused_while_the_outbox_holds_the_stream(self, outbox_source: EventSource) -> None:
        entry = await outbox_source.append(STREAM_TYPE, "busy", 0, history("busy", 2))
        assert entry is not None

        with pytest.raises(UnpublishedEventsError, match="relay"):
            await lifecycle_of(outbox_source).archive(STREAM_TYPE, "busy")
        with pytest.raises(UnpublishedEventsError):
            await lifecycle_of(outbox_source).delete(STREAM_TYPE, "busy")
        assert [e.metadata.version for e in await outbox_source.load(STREAM_TYPE, "busy")] == [1, 2]

        assert isinstance(outbox_source, Outbox)
        assert await outbox_source.clear(entry)
        await lifecycle_of(outbox_source).archive(STREAM_TYPE, "busy")
        await lifecycle_of(outbox_source).delete(STREAM_TYPE, "busy")

    async def test_ids_that_extend_each_other_keep_their_own_lifecycle(self, event_source: EventSource) -> None:
        extended = "a_0000000001"
        await event_source.append(STREAM_TYPE, "a", 0, history("a", 2))
        await event_source.append(STREAM_TYPE, extended, 0, history(extended, 2))

        await lifecycle_of(event_source).archive(STREAM_TYPE, extended)
        await lifecycle_of(event_source).delete(STREAM_TYPE, "a")

        assert await ids(event_source) == []
        assert [s.stream_id async for s in lifecycle_of(event_source).read_archived(STREAM_TYPE)] == [extended]
        assert len(await event_source.load(STREAM_TYPE, extended)) == 2
