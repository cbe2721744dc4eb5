"""The outbox contract as a base class, for event sources that commit outbox entries with their appends.

    class TestMyStoreOutbox(OutboxContract):
        async def make_source(self, registry: EventTypeRegistry, *, outbox: bool) -> EventSource:
            return MyStore(registry=registry, outbox=outbox)

`make_source` is the one `EventSourceContract` asks for (`SourceFactory`), so one mixin serves both suites.
"""

from __future__ import annotations

from messagehandler.errors import ConcurrencyError
from messagehandler.eventsource.outbox import Outbox, OutboxEntry
from messagehandler.eventsource.protocol import EventSource
from messagehandler.testing._pytest import pytest
from messagehandler.testing.source_factory import SourceFactory
from messagehandler.testing.streams import STREAM_TYPE, history


def outbox_of(source: EventSource) -> Outbox:
    assert isinstance(source, Outbox)
    assert source.outbox_enabled
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
