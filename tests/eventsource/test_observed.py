"""`ObservedSource` reports what it hands out and passes every argument through, a bad-row policy included."""

from __future__ import annotations

from messagehandler import Event, InMemoryEventSource, SkipBadRows
from messagehandler.eventsource.observed import ObservedSource
from messagehandler.testing import recorded
from messagehandler.testing.bad_rows import Counted


async def test_reads_are_reported_and_a_bad_row_policy_reaches_the_inner_source() -> None:
    inner = InMemoryEventSource()
    inner.registry.register(Counted)
    await inner.append("C", "good", 0, recorded("C", "good", [Counted(count=1), Counted(count=2)]))
    await inner.append("C", "bad", 0, recorded("C", "bad", [Counted.model_construct(count=-1)]))
    streams: list[str] = []
    loads: list[list[Event]] = []
    source = ObservedSource(inner, on_stream=lambda s: streams.append(s.stream_id), on_load=loads.append)
    policy = SkipBadRows()

    assert [s.stream_id async for s in source.read_type("C", bad_rows=policy)] == ["good"]
    assert [s.stream_id async for s in source.read_changes("C", None, bad_rows=policy)] == ["good"]
    assert len(await source.load("C", "good")) == 2
    assert [i async for i in source.stream_ids("C")] == ["good", "bad"]

    assert streams == ["good", "good"]
    assert [len(events) for events in loads] == [2]
    assert policy.streams == ["C/bad"]
    await source.close()


async def test_snapshots_pass_through_and_a_source_without_them_has_none() -> None:
    from messagehandler.cache import CacheEventSource
    from messagehandler.eventsource.snapshots import Snapshot

    inner = InMemoryEventSource()
    inner.registry.register(Counted)
    snapshot = Snapshot(1, "schema", "{}")
    await inner.append("C", "s", 0, recorded("C", "s", [Counted(count=1)]), snapshot=snapshot)

    assert await ObservedSource(inner).read_snapshot("C", "s") == snapshot
    assert ObservedSource(inner).current() is inner
    assert await ObservedSource(CacheEventSource.__new__(CacheEventSource)).read_snapshot("C", "s") is None
