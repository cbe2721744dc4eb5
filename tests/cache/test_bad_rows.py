"""Replication and cache reads over an unreadable row: stop naming it by default, skip its stream by policy."""

from __future__ import annotations

from pathlib import Path

import pytest

from messagehandler import EventTypeRegistry, InMemoryEventSource, SkipBadRows, UnreadableEventError
from messagehandler.cache import CacheEventSource, CacheReplicator
from messagehandler.cache.passthrough import PassThroughSerializer
from messagehandler.testing import recorded
from messagehandler.testing.bad_rows import Counted
from samples.organization import OrganizationRegistered, OrganizationRenamed
from tests.cache.support import ORG, cached, fill, register


@pytest.fixture
async def source() -> InMemoryEventSource:
    store = InMemoryEventSource()
    register(store)
    store.registry.register(Counted)
    await fill(store, {"acme": 2})
    broken = [OrganizationRegistered(name="broken"), Counted.model_construct(count=-1), Counted(count=3)]
    await store.append(ORG, "broken", 0, recorded(ORG, "broken", broken))
    await fill(store, {"zeta": 1})
    return store


async def test_replication_stops_at_an_unreadable_row_unless_told_to_skip(
    source: InMemoryEventSource, tmp_path: Path
) -> None:
    with pytest.raises(UnreadableEventError, match="broken_0000000002"):
        await CacheReplicator(source, tmp_path / "strict").replicate([ORG])
    bad_rows = SkipBadRows()

    summary = await CacheReplicator(source, tmp_path / "lenient").replicate([ORG], bad_rows=bad_rows)

    assert summary.events == {ORG: 3}
    assert {stream_id for _, stream_id, _ in cached(tmp_path / "lenient")} == {"acme", "zeta"}
    assert [(e.stream, e.version) for e in bad_rows.skipped] == [(f"{ORG}/broken", 2)]


async def test_a_cached_row_that_does_not_decode_is_named_by_its_sequence_number(tmp_path: Path) -> None:
    store = InMemoryEventSource(serializer=PassThroughSerializer(EventTypeRegistry(closed=True)))
    await fill(store, {"acme": 2})
    broken = [OrganizationRegistered(name="broken"), Counted.model_construct(count=-1)]
    await store.append(ORG, "broken", 0, recorded(ORG, "broken", broken))
    await CacheReplicator(store, tmp_path).replicate([ORG])  # bodies cached as stored, unread
    cache = CacheEventSource(
        tmp_path, EventTypeRegistry([Counted, OrganizationRegistered, OrganizationRenamed], closed=True)
    )

    with pytest.raises(UnreadableEventError) as raised:
        _ = [s async for s in cache.read_type(ORG)]

    assert f"cache at {tmp_path} (seq 4)" in str(raised.value)
    assert (raised.value.row_key, raised.value.version) == ("broken_0000000002", 2)
    bad_rows = SkipBadRows()
    assert [s.stream_id async for s in cache.read_changes(ORG, bad_rows=bad_rows)] == ["acme"]
    assert [e.row_key for e in bad_rows.skipped] == ["broken_0000000002"]
