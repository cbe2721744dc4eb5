"""The snapshot contract as a base class, for event sources that keep snapshots beside their streams.

    class TestMyStoreSnapshots(SnapshotContract):
        async def make_source(self, registry: EventTypeRegistry, *, outbox: bool) -> EventSource:
            return MyStore(registry=registry, outbox=outbox)

The source must implement `messagehandler.eventsource.snapshots.SnapshotSource`: it takes a snapshot in
the same transaction as the events (`append(..., snapshot=)`), keeps the latest per stream, and no
reader of events ever meets it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from messagehandler.errors import ConcurrencyError
from messagehandler.eventsource.lifecycle import StreamLifecycle
from messagehandler.eventsource.outbox import Outbox
from messagehandler.eventsource.protocol import EventSource
from messagehandler.eventsource.snapshots import Snapshot, SnapshotSource
from messagehandler.testing._pytest import pytest
from messagehandler.testing.source_factory import SourceFactory
from messagehandler.testing.streams import STREAM_TYPE, history


def snapshots_of(source: EventSource) -> SnapshotSource:
    assert isinstance(source, SnapshotSource), f"{type(source).__qualname__} keeps no snapshots"
    return source


def state(version: int, size: int = 10) -> Snapshot:
    return Snapshot(version, "schema-1", '{"name": "' + "x" * size + f'", "at": {version}}}')


class SnapshotContract(SourceFactory):
    """Snapshots are written with the events that reach them, replace each other, and stay out of every event read."""

    async def test_a_stream_without_a_snapshot_has_none(self, event_source: EventSource) -> None:
        await event_source.append(STREAM_TYPE, "acme", 0, history("acme", 2))

        assert await snapshots_of(event_source).read_snapshot(STREAM_TYPE, "acme") is None
        assert await snapshots_of(event_source).read_snapshot(STREAM_TYPE, "nobody") is None

    async def test_a_snapshot_is_stored_with_its_events_and_the_latest_replaces_it(
        self, event_source: EventSource
    ) -> None:
        await event_source.append(STREAM_TYPE, "acme", 0, history("acme", 3), snapshot=state(3))
        assert await snapshots_of(event_source).read_snapshot(STREAM_TYPE, "acme") == state(3)

        await event_source.append(STREAM_TYPE, "acme", 3, history("acme", 2, start_version=4), snapshot=state(5))

        assert await snapshots_of(event_source).read_snapshot(STREAM_TYPE, "acme") == state(5)

    async def test_a_snapshot_of_a_conflicting_append_is_not_stored(self, event_source: EventSource) -> None:
        await event_source.append(STREAM_TYPE, "acme", 0, history("acme", 2), snapshot=state(2))

        with pytest.raises(ConcurrencyError):
            await event_source.append(STREAM_TYPE, "acme", 1, history("acme", 1, start_version=2), snapshot=state(9))

        assert await snapshots_of(event_source).read_snapshot(STREAM_TYPE, "acme") == state(2)

    async def test_event_reads_never_meet_a_snapshot(self, outbox_source: EventSource) -> None:
        before = datetime.now(UTC) - timedelta(hours=1)
        events = history("acme", 3)
        await outbox_source.append(STREAM_TYPE, "acme", 0, events, snapshot=state(3))

        assert await outbox_source.load(STREAM_TYPE, "acme") == events
        assert [(s.stream_id, s.events) async for s in outbox_source.read_type(STREAM_TYPE)] == [("acme", events)]
        assert [s.version async for s in outbox_source.read_changes(STREAM_TYPE, before)] == [3]
        assert [i async for i in outbox_source.stream_ids(STREAM_TYPE)] == ["acme"]
        assert isinstance(outbox_source, Outbox)
        assert [(e.stream_id, e.to_version) async for e in outbox_source.pending(STREAM_TYPE)] == [("acme", 3)]

    async def test_a_snapshot_too_large_for_a_row_is_left_out_and_the_events_stored(
        self, event_source: EventSource, caplog: pytest.LogCaptureFixture
    ) -> None:
        events = history("acme", 2)

        await event_source.append(STREAM_TYPE, "acme", 0, events, snapshot=state(2, size=1_100_000))

        assert await event_source.load(STREAM_TYPE, "acme") == events
        assert await snapshots_of(event_source).read_snapshot(STREAM_TYPE, "acme") is None
        assert "snapshot of Contract/acme at version 2 left out" in caplog.text

    async def test_a_large_snapshot_spreads_over_columns_and_reads_back_whole(self, event_source: EventSource) -> None:
        await event_source.append(STREAM_TYPE, "acme", 0, history("acme", 2), snapshot=state(2, size=200_000))

        assert await snapshots_of(event_source).read_snapshot(STREAM_TYPE, "acme") == state(2, size=200_000)

    async def test_deleting_a_stream_deletes_its_snapshot_and_archiving_keeps_it(
        self, event_source: EventSource
    ) -> None:
        assert isinstance(event_source, StreamLifecycle)
        for stream_id in ("gone", "kept"):
            await event_source.append(STREAM_TYPE, stream_id, 0, history(stream_id, 2), snapshot=state(2))

        await event_source.delete(STREAM_TYPE, "gone")
        await event_source.archive(STREAM_TYPE, "kept")

        assert await snapshots_of(event_source).read_snapshot(STREAM_TYPE, "gone") is None
        assert await snapshots_of(event_source).read_snapshot(STREAM_TYPE, "kept") == state(2)

    async def test_ids_that_extend_each_other_keep_their_own_snapshots(self, event_source: EventSource) -> None:
        await event_source.append(STREAM_TYPE, "x", 0, history("x", 1), snapshot=state(1))
        await event_source.append(STREAM_TYPE, "x_0000000001", 0, history("x_0000000001", 2), snapshot=state(2))

        assert await snapshots_of(event_source).read_snapshot(STREAM_TYPE, "x") == state(1)
        assert await snapshots_of(event_source).read_snapshot(STREAM_TYPE, "x_0000000001") == state(2)
