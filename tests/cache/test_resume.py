"""Interrupted and repeated replication: committed work is kept, uncommitted work is never trusted."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from messagehandler import Event, EventSource, EventStream, EventTypeRegistry
from messagehandler.cache import CacheLockedError, CacheReader
from messagehandler.cache.lock import writer_lock
from tests.cache.support import ORG, cached, files, fill, register, replicator
from tests.support.history import history
from tests.support.history import strictly_later_commit as _strictly_later_commit


class CrashError(Exception):
    pass


class FlakySource:
    """Delegates to a real source, but fails once `streams` streams were read and hides versions from `hidden`."""

    def __init__(self, source: EventSource, streams: int = -1, hidden: dict[str, int] | None = None) -> None:
        self.source = source
        self.left = streams
        self.hidden = hidden or {}

    def _visible(self, stream_id: str, events: list[Event]) -> list[Event]:
        limit = self.hidden.get(stream_id)
        return events if limit is None else [e for e in events if e.metadata.version < limit]

    @property
    def registry(self) -> EventTypeRegistry:
        return self.source.registry

    async def append(self, stream_type: str, stream_id: str, expected_version: int, events: Sequence[Event]) -> None:
        raise AssertionError("the replicator never appends")

    async def load(self, stream_type: str, stream_id: str, *, from_version: int = 1) -> list[Event]:
        return self._visible(stream_id, await self.source.load(stream_type, stream_id, from_version=from_version))

    def read_type(self, stream_type: str) -> AsyncIterator[EventStream]:
        return self.read_changes(stream_type)

    async def read_changes(self, stream_type: str, since: datetime | None = None) -> AsyncIterator[EventStream]:
        async for stream in self.source.read_changes(stream_type, since):
            if self.left == 0:
                raise CrashError
            self.left -= 1
            events = self._visible(stream.stream_id, stream.events)
            if events:
                yield EventStream(stream_type, stream.stream_id, events)

    def stream_ids(self, stream_type: str) -> AsyncIterator[str]:
        return self.source.stream_ids(stream_type)

    async def close(self) -> None:
        pass


@pytest.fixture(autouse=True)
def _register(event_source: EventSource) -> None:
    register(event_source)


STREAMS = {"a": 3, "b": 2, "c": 4, "d": 1, "e": 2}


async def test_a_crash_keeps_committed_segments_and_the_next_run_completes_without_duplicates(
    event_source: EventSource, tmp_path: Path
) -> None:
    await fill(event_source, STREAMS)
    with pytest.raises(CrashError):
        await replicator(FlakySource(event_source, 3), tmp_path, segment_bytes=1).replicate([ORG])
    committed = cached(tmp_path)

    summary = await replicator(event_source, tmp_path).replicate([ORG])

    rows = cached(tmp_path)
    assert len(committed) == 3 + 2 + 4
    assert rows[: len(committed)] == committed
    assert [seq for seq, _, _ in rows] == list(range(1, 13))
    assert sorted((s, v) for _, s, v in rows) == sorted((s, v) for s, n in STREAMS.items() for v in range(1, n + 1))
    assert summary.total_events == 12 - len(committed)


async def test_a_checkpoint_inside_a_pass_keeps_the_high_water_mark_the_pass_started_from(
    event_source: EventSource, tmp_path: Path
) -> None:
    """Streams come in key order, not time order: an unread stream may be older than those read."""
    await fill(event_source, STREAMS)
    with pytest.raises(CrashError):
        await replicator(FlakySource(event_source, 2), tmp_path, segment_bytes=1).replicate([ORG])

    position = CacheReader(tmp_path).position(ORG)

    assert position is not None
    assert position.high_water is None
    assert position.versions


async def test_files_of_an_interrupted_run_are_ignored_by_readers_and_removed_by_the_next_run(
    event_source: EventSource, tmp_path: Path
) -> None:
    await fill(event_source, {"a": 2})
    await replicator(event_source, tmp_path).replicate([ORG])
    (tmp_path / ".segment-00000002.mhc.999.tmp").write_bytes(b"half a segment")
    (tmp_path / "segment-00000002.mhc").write_bytes(b"renamed but never committed")

    assert cached(tmp_path) == [(1, "a", 1), (2, "a", 2)]
    await fill(event_source, {"a": 1})
    await replicator(event_source, tmp_path).replicate([ORG])

    assert cached(tmp_path) == [(1, "a", 1), (2, "a", 2), (3, "a", 3)]
    assert files(tmp_path, ".*.tmp") == []


async def test_an_event_committed_before_the_margin_but_unseen_is_filled_in_from_its_stream(
    event_source: EventSource, tmp_path: Path
) -> None:
    """Version 2 of `a` was in flight during the first run: invisible, with a commit time before the high water."""
    await fill(event_source, {"a": 2, "b": 1})
    await replicator(FlakySource(event_source, hidden={"a": 2}), tmp_path, margin=timedelta(0)).replicate([ORG])
    (b1,) = await event_source.load(ORG, "b")
    assert b1.metadata.stored_at is not None
    await _strictly_later_commit(event_source, b1.metadata.stored_at)
    await event_source.append(ORG, "a", 2, history("a", 1, start_version=3))

    await replicator(event_source, tmp_path, margin=timedelta(0)).replicate([ORG])

    assert [(s, v) for _, s, v in cached(tmp_path)] == [("a", 1), ("b", 1), ("a", 2), ("a", 3)]


async def test_a_second_replicator_on_the_same_directory_is_refused(event_source: EventSource, tmp_path: Path) -> None:
    await fill(event_source, {"a": 1})
    with writer_lock(tmp_path), pytest.raises(CacheLockedError, match="another replicator"):
        await replicator(event_source, tmp_path).replicate([ORG])

    await replicator(event_source, tmp_path).replicate([ORG])
    assert cached(tmp_path) == [(1, "a", 1)]
