"""The cache as a read-only EventSource: consumers restore the same records from it as from the store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from messagehandler import EventSource
from messagehandler.cache import CacheEventSource, ReadOnlyCacheError
from samples.organization import OrganizationRegistered, OrganizationRenamed
from tests.cache.support import ORG, fill, history, register, replicator


@pytest.fixture(autouse=True)
def _register(event_source: EventSource) -> None:
    register(event_source)


async def restore(source: EventSource, stream_type: str) -> dict[str, dict[str, Any]]:
    """A small projection: one record per organization, built only through the EventSource protocol."""
    records: dict[str, dict[str, Any]] = {}
    async for stream in source.read_type(stream_type):
        record: dict[str, Any] = {"renames": 0}
        for event in stream.events:
            if isinstance(event, OrganizationRegistered):
                record.update(name=event.name, country=event.country)
            elif isinstance(event, OrganizationRenamed):
                record["name"] = event.name
                record["renames"] += 1
            record["version"] = event.metadata.version
            record["stored_at"] = event.metadata.stored_at
        records[stream.stream_id] = record
    return records


async def test_a_projection_restores_the_same_records_from_the_cache_as_from_the_store(
    event_source: EventSource, tmp_path: Path
) -> None:
    await fill(event_source, {"a": 4, "b": 1, "c": 7})
    await replicator(event_source, tmp_path).replicate([ORG])
    await fill(event_source, {"a": 2, "d": 3})
    await replicator(event_source, tmp_path).replicate([ORG])
    cache = CacheEventSource(tmp_path, event_source.registry)

    from_store = await restore(event_source, ORG)
    from_cache = await restore(cache, ORG)

    assert from_cache == from_store
    assert from_cache["a"]["version"] == 6


async def test_streams_split_over_runs_come_whole_and_in_version_order(
    event_source: EventSource, tmp_path: Path
) -> None:
    await fill(event_source, {"a": 3, "b": 2})
    await replicator(event_source, tmp_path, page_events=2).replicate([ORG])
    await fill(event_source, {"a": 3})
    await replicator(event_source, tmp_path, page_events=2).replicate([ORG])
    cache = CacheEventSource(tmp_path, event_source.registry)

    streams = {s.stream_id: [e.metadata.version for e in s.events] async for s in cache.read_type(ORG)}

    assert streams == {"a": [1, 2, 3, 4, 5, 6], "b": [1, 2]}
    assert [sid async for sid in cache.stream_ids(ORG)] == ["a", "b"]


async def test_load_and_read_changes_match_the_store(event_source: EventSource, tmp_path: Path) -> None:
    await fill(event_source, {"a": 5, "b": 2})
    await replicator(event_source, tmp_path).replicate([ORG])
    cache = CacheEventSource(tmp_path, event_source.registry)
    since = (await event_source.load(ORG, "b"))[0].metadata.stored_at

    assert await cache.load(ORG, "a", from_version=3) == await event_source.load(ORG, "a", from_version=3)
    assert await cache.load(ORG, "missing") == []
    store_changes = {s.stream_id: s.events async for s in event_source.read_changes(ORG, since)}
    cache_changes = {s.stream_id: s.events async for s in cache.read_changes(ORG, since)}
    assert cache_changes == store_changes
    assert [s async for s in cache.read_type("Unknown")] == []


async def test_the_cache_source_refuses_appends(event_source: EventSource, tmp_path: Path) -> None:
    await fill(event_source, {"a": 1})
    await replicator(event_source, tmp_path).replicate([ORG])

    with pytest.raises(ReadOnlyCacheError, match="read-only"):
        await CacheEventSource(tmp_path).append(ORG, "a", 1, history("a", 1, start_version=2))
