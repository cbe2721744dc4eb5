"""The outbox contract: every event source that keeps an outbox must pass every test here."""

from __future__ import annotations

import pytest

from messagehandler import ConcurrencyError, EventSource
from messagehandler.eventsource.outbox import Outbox, OutboxEntry
from samples.organization import OrganizationRegistered, OrganizationRenamed
from tests.contract.test_event_source import ORG, history


@pytest.fixture(autouse=True)
def _register(outbox_source: EventSource) -> None:
    outbox_source.registry.register(OrganizationRegistered, OrganizationRenamed)


def outbox_of(source: EventSource) -> Outbox:
    assert isinstance(source, Outbox)
    assert source.outbox_enabled
    return source


async def pending(source: EventSource, stream_type: str = ORG) -> list[OutboxEntry]:
    return [entry async for entry in outbox_of(source).pending(stream_type)]


async def test_an_append_commits_an_outbox_entry_for_its_versions(outbox_source: EventSource) -> None:
    entry = await outbox_source.append(ORG, "acme", 0, history("acme", 3))

    assert entry is not None
    assert (entry.stream_type, entry.stream_id, entry.from_version, entry.to_version) == (ORG, "acme", 1, 3)
    assert [(e.stream_id, e.from_version, e.to_version) for e in await pending(outbox_source)] == [("acme", 1, 3)]


async def test_an_append_behind_an_unpublished_one_extends_its_entry(outbox_source: EventSource) -> None:
    first = await outbox_source.append(ORG, "acme", 0, history("acme", 2))
    second = await outbox_source.append(ORG, "acme", 2, history("acme", 2, start_version=3))

    assert first is not None
    assert second is not None
    assert (second.from_version, second.to_version) == (1, 4)
    assert second.token != first.token
    assert await outbox_of(outbox_source).clear(first) is False
    assert [(e.from_version, e.to_version) for e in await pending(outbox_source)] == [(1, 4)]
    assert await outbox_of(outbox_source).clear(second) is True
    assert await pending(outbox_source) == []


async def test_after_clearing_the_next_append_starts_a_new_entry(outbox_source: EventSource) -> None:
    first = await outbox_source.append(ORG, "acme", 0, history("acme", 2))
    assert first is not None
    assert await outbox_of(outbox_source).clear(first)

    second = await outbox_source.append(ORG, "acme", 2, history("acme", 1, start_version=3))

    assert second is not None
    assert (second.from_version, second.to_version) == (3, 3)


async def test_a_failed_append_leaves_the_outbox_as_it_was(outbox_source: EventSource) -> None:
    await outbox_source.append(ORG, "acme", 0, history("acme", 2))
    before = await pending(outbox_source)

    with pytest.raises(ConcurrencyError):
        await outbox_source.append(ORG, "acme", 1, history("acme", 1, start_version=2))

    assert await pending(outbox_source) == before


async def test_pending_lists_one_entry_per_stream_of_that_type_only(outbox_source: EventSource) -> None:
    for stream_id in ("c", "a", "b"):
        await outbox_source.append(ORG, stream_id, 0, history(stream_id, 1))
    await outbox_source.append("Person", "p", 0, history("p", 1, stream_type="Person"))

    assert [e.stream_id for e in await pending(outbox_source)] == ["a", "b", "c"]
    assert [e.stream_id for e in await pending(outbox_source, "Person")] == ["p"]


async def test_outbox_rows_are_not_events(outbox_source: EventSource) -> None:
    await outbox_source.append(ORG, "acme", 0, history("acme", 2))

    assert [i async for i in outbox_source.stream_ids(ORG)] == ["acme"]
    streams = [s async for s in outbox_source.read_type(ORG)]
    assert [(s.stream_id, len(s.events)) for s in streams] == [("acme", 2)]
    changes = [s async for s in outbox_source.read_changes(ORG)]
    assert [(s.stream_id, len(s.events)) for s in changes] == [("acme", 2)]
    assert len(await outbox_source.load(ORG, "acme")) == 2


async def test_a_retried_append_returns_the_entry_that_covers_it(outbox_source: EventSource) -> None:
    events = history("acme", 2)
    await outbox_source.append(ORG, "acme", 0, events)

    again = await outbox_source.append(ORG, "acme", 0, events)

    assert again is not None
    assert (again.from_version, again.to_version) == (1, 2)
    assert len(await pending(outbox_source)) == 1
