"""The outbox contract as a base class, for event sources that commit outbox entries with their appends.

The source must also clear published entries later (`DeferredClearing`), as the dispatcher asks, and
report when each entry was written (`OutboxEntry.written_at`), which the relay's age rule reads.

    class TestMyStoreOutbox(OutboxContract):
        async def make_source(self, registry: EventTypeRegistry, *, outbox: bool) -> EventSource:
            return MyStore(registry=registry, outbox=outbox)

`make_source` is the one `EventSourceContract` asks for (`SourceFactory`), so one mixin serves both suites.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from messagehandler.errors import ConcurrencyError
from messagehandler.eventsource.outbox import DeferredClearing, Outbox, OutboxEntry
from messagehandler.eventsource.protocol import EventSource
from messagehandler.testing._pytest import pytest
from messagehandler.testing.source_factory import SourceFactory
from messagehandler.testing.streams import STREAM_TYPE, history


def outbox_of(source: EventSource) -> Outbox:
    assert isinstance(source, Outbox)
    assert source.outbox_enabled
    return source


def deferred_of(source: EventSource) -> DeferredClearing:
    assert isinstance(source, DeferredClearing), f"{type(source).__qualname__} cannot clear entries later"
    return source


async def pending(source: EventSource, stream_type: str = STREAM_TYPE) -> list[OutboxEntry]:
    return [entry async for entry in outbox_of(source).pending(stream_type)]


class OutboxContract(SourceFactory):
    """What every outbox must do: entries committed with the append, extended while unpublished, cleared by token."""

    async def test_an_append_commits_an_outbox_entry_for_its_versions(self, outbox_source: EventSource) -> None:
        entry = await outbox_source.append(STREAM_TYPE, "acme", 0, history("acme", 3))

        assert entry is not None
        assert (entry.stream_type, entry.stream_id, entry.from_version, entry.to_version) == (STREAM_TYPE, "acme", 1, 3)
        assert [(e.stream_id, e.from_version, e.to_version) for e in await pending(outbox_source)] == [("acme", 1, 3)]

    async def test_an_append_behind_an_unpublished_one_extends_its_entry(self, outbox_source: EventSource) -> None:
        first = await outbox_source.append(STREAM_TYPE, "acme", 0, history("acme", 2))
        second = await outbox_source.append(STREAM_TYPE, "acme", 2, history("acme", 2, start_version=3))

        assert first is not None
        assert second is not None
        assert (second.from_version, second.to_version) == (1, 4)
        assert second.token != first.token
        assert await outbox_of(outbox_source).clear(first) is False
        assert [(e.from_version, e.to_version) for e in await pending(outbox_source)] == [(1, 4)]
        assert await outbox_of(outbox_source).clear(second) is True
        assert await pending(outbox_source) == []

    async def test_after_clearing_the_next_append_starts_a_new_entry(self, outbox_source: EventSource) -> None:
        first = await outbox_source.append(STREAM_TYPE, "acme", 0, history("acme", 2))
        assert first is not None
        assert await outbox_of(outbox_source).clear(first)

        second = await outbox_source.append(STREAM_TYPE, "acme", 2, history("acme", 1, start_version=3))

        assert second is not None
        assert (second.from_version, second.to_version) == (3, 3)

    async def test_a_failed_append_leaves_the_outbox_as_it_was(self, outbox_source: EventSource) -> None:
        await outbox_source.append(STREAM_TYPE, "acme", 0, history("acme", 2))
        before = await pending(outbox_source)

        with pytest.raises(ConcurrencyError):
            await outbox_source.append(STREAM_TYPE, "acme", 1, history("acme", 1, start_version=2))

        assert await pending(outbox_source) == before

    async def test_pending_lists_one_entry_per_stream_of_that_type_only(self, outbox_source: EventSource) -> None:
        for stream_id in ("c", "a", "b"):
            await outbox_source.append(STREAM_TYPE, stream_id, 0, history(stream_id, 1))
        await outbox_source.append("Person", "p", 0, history("p", 1, stream_type="Person"))

        assert [e.stream_id for e in await pending(outbox_source)] == ["a", "b", "c"]
        assert [e.stream_id for e in await pending(outbox_source, "Person")] == ["p"]

    async def test_outbox_rows_are_not_events(self, outbox_source: EventSource) -> None:
        await outbox_source.append(STREAM_TYPE, "acme", 0, history("acme", 2))

        assert [i async for i in outbox_source.stream_ids(STREAM_TYPE)] == ["acme"]
        streams = [s async for s in outbox_source.read_type(STREAM_TYPE)]
        assert [(s.stream_id, len(s.events)) for s in streams] == [("acme", 2)]
        changes = [s async for s in outbox_source.read_changes(STREAM_TYPE)]
        assert [(s.stream_id, len(s.events)) for s in changes] == [("acme", 2)]
        assert len(await outbox_source.load(STREAM_TYPE, "acme")) == 2

    async def test_a_retried_append_returns_the_entry_that_covers_it(self, outbox_source: EventSource) -> None:
        events = history("acme", 2)
        await outbox_source.append(STREAM_TYPE, "acme", 0, events)

        again = await outbox_source.append(STREAM_TYPE, "acme", 0, events)

        assert again is not None
        assert (again.from_version, again.to_version) == (1, 2)
        assert len(await pending(outbox_source)) == 1

    async def test_an_entry_cleared_later_is_gone_once_the_clears_are_done(self, outbox_source: EventSource) -> None:
        deferred = deferred_of(outbox_source)
        entries = [await outbox_source.append(STREAM_TYPE, s, 0, history(s, 1)) for s in ("a", "b", "c")]

        for entry in entries:
            assert entry is not None
            deferred.clear_later(entry)
        await deferred.cleared()

        assert await pending(outbox_source) == []

    async def test_an_append_after_a_clear_later_covers_only_its_own_versions(self, outbox_source: EventSource) -> None:
        published = await outbox_source.append(STREAM_TYPE, "acme", 0, history("acme", 2))
        assert published is not None
        deferred_of(outbox_source).clear_later(published)

        entry = await outbox_source.append(STREAM_TYPE, "acme", 2, history("acme", 1, start_version=3))

        assert entry is not None
        assert (entry.from_version, entry.to_version) == (3, 3)
        assert [(e.from_version, e.to_version) for e in await pending(outbox_source)] == [(3, 3)]

    async def test_a_stale_entry_cleared_later_leaves_the_extended_one(self, outbox_source: EventSource) -> None:
        stale = await outbox_source.append(STREAM_TYPE, "acme", 0, history("acme", 1))
        await outbox_source.append(STREAM_TYPE, "acme", 1, history("acme", 1, start_version=2))
        assert stale is not None

        deferred_of(outbox_source).clear_later(stale)
        await deferred_of(outbox_source).cleared()

        assert [(e.from_version, e.to_version) for e in await pending(outbox_source)] == [(1, 2)]

    async def test_pending_entries_say_when_they_were_written(self, outbox_source: EventSource) -> None:
        before = datetime.now(UTC) - timedelta(minutes=1)
        await outbox_source.append(STREAM_TYPE, "acme", 0, history("acme", 1))

        [entry] = await pending(outbox_source)

        assert entry.written_at is not None
        assert before < entry.written_at < datetime.now(UTC) + timedelta(minutes=1)
