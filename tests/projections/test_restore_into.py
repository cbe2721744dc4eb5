"""Restoring straight into a search index: batches written as the streams arrive, the same records as `restore`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import pytest

from messagehandler import EventSource, InMemoryEventSource, SkipBadRows, UnreadableEventError
from messagehandler.eventsource.protocol import EventStream
from messagehandler.projections import Projector
from messagehandler.search import SqliteSearchIndex
from samples.organization.search import SearchEntry, SearchEntryProjection
from tests.projections.support import ORG, register, with_a_broken_stream


class RecordingIndex(SqliteSearchIndex[SearchEntry]):
    """A real index that remembers the size of every upsert and which ids were read back."""

    def __init__(self, path: Path) -> None:
        super().__init__(SearchEntry, path)
        self.upserts: list[int] = []
        self.read_back: list[str] = []

    async def upsert(self, records: Mapping[str, SearchEntry]) -> None:
        self.upserts.append(len(records))
        await super().upsert(records)

    async def get(self, id: str) -> SearchEntry | None:
        self.read_back.append(id)
        return await super().get(id)


class HalvedStreams(InMemoryEventSource):
    """Breaks the one-stream-once rule on purpose: every stream's first half, then every second half."""

    async def read_type(self, stream_type: str, *, bad_rows: SkipBadRows | None = None) -> AsyncIterator[EventStream]:  # type: ignore[override]
        streams = [stream async for stream in super().read_type(stream_type)]
        for stream in streams:
            yield EventStream(stream_type, stream.stream_id, stream.events[: len(stream.events) // 2 or 1])
        for stream in streams:
            if len(stream.events) > 1:
                yield EventStream(stream_type, stream.stream_id, stream.events[len(stream.events) // 2 :])


async def everything(index: SqliteSearchIndex[SearchEntry]) -> dict[str, SearchEntry]:
    return {hit.id: hit.record for hit in await index.search("*", top=10_000)}


async def fill(source: EventSource, count: int) -> None:
    for n in range(count):
        await register(source, f"org{n:03d}", renames=n % 4)


async def test_restore_into_writes_the_records_restore_builds_a_batch_at_a_time(tmp_path: Path) -> None:
    source = InMemoryEventSource()
    await fill(source, 25)
    projector = Projector(source, SearchEntryProjection)

    async with RecordingIndex(tmp_path / "index.db") as index:
        written = await projector.restore_into(index, SearchEntry, ORG, batch=10)

        assert written == 25
        assert index.upserts == [10, 10, 5]
        assert await everything(index) == await projector.restore(SearchEntry, ORG)
        assert index.read_back == []


async def test_a_stream_that_arrives_in_pieces_continues_its_written_record(tmp_path: Path) -> None:
    source = HalvedStreams()
    await fill(source, 6)
    whole = await Projector(source, SearchEntryProjection).restore(SearchEntry, ORG)

    async with RecordingIndex(tmp_path / "index.db") as index:
        written = await Projector(source, SearchEntryProjection).restore_into(index, SearchEntry, ORG, batch=2)

        assert written == 6
        assert await everything(index) == whole
        assert sorted(index.read_back) == [f"org{n:03d}" for n in range(6) if n % 4 > 0]
        assert whole["org003"].former_names == ["org003", "org003-0", "org003-1"]


async def test_restore_into_skips_an_unreadable_stream_by_policy_or_stops_at_it(tmp_path: Path) -> None:
    projector = Projector(await with_a_broken_stream(), SearchEntryProjection)

    async with SqliteSearchIndex(SearchEntry, tmp_path / "skipped.db") as index:
        bad_rows = SkipBadRows()
        assert await projector.restore_into(index, SearchEntry, ORG, bad_rows=bad_rows) == 2
        assert sorted(await everything(index)) == ["acme", "zeta"]
        assert bad_rows.streams == [f"{ORG}/broken"]
    async with SqliteSearchIndex(SearchEntry, tmp_path / "stopped.db") as index:
        with pytest.raises(UnreadableEventError, match="broken"):
            await projector.restore_into(index, SearchEntry, ORG, batch=1)
        assert sorted(await everything(index)) == ["acme"]


async def test_a_batch_must_hold_a_record() -> None:
    async with SqliteSearchIndex(SearchEntry) as index:
        with pytest.raises(ValueError, match="batch"):
            await Projector(InMemoryEventSource(), SearchEntryProjection).restore_into(index, SearchEntry, ORG, batch=0)
