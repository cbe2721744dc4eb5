"""Sources written against the `EventSource` protocol before `version_known` and `snapshot=`: still stored to."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pytest

from messagehandler import AggregateRepository, EventSource, InMemoryEventSource, message_context
from messagehandler.events.event import Event
from messagehandler.eventsource.observed import ObservedSource
from messagehandler.eventsource.outbox import OutboxEntry
from messagehandler.eventsource.tenants import TenantScopedEventSource
from tests.repository.counter import COUNTER, Counter


class OldSource(InMemoryEventSource):
    """The append of a third-party source written before the keyword options existed."""

    async def append(  # type: ignore[override]
        self, stream_type: str, stream_id: str, expected_version: int, events: Sequence[Event]
    ) -> OutboxEntry | None:
        return await super().append(stream_type, stream_id, expected_version, events)


class VersionKnownOnly(InMemoryEventSource):
    """A source that learnt `version_known` but not snapshots."""

    async def append(  # type: ignore[override]
        self,
        stream_type: str,
        stream_id: str,
        expected_version: int,
        events: Sequence[Event],
        *,
        version_known: bool = False,
    ) -> OutboxEntry | None:
        return await super().append(stream_type, stream_id, expected_version, events, version_known=version_known)


class Forwarding(InMemoryEventSource):
    """A wrapper that passes whatever options it gets: it takes snapshots."""

    async def append(  # type: ignore[override]
        self, stream_type: str, stream_id: str, expected_version: int, events: Sequence[Event], **options: Any
    ) -> OutboxEntry | None:
        return await super().append(stream_type, stream_id, expected_version, events, **options)


@pytest.mark.parametrize("wrapped", ["direct", "observed", "tenant"])
@pytest.mark.parametrize(("base", "snapshots"), [(OldSource, False), (VersionKnownOnly, False), (Forwarding, True)])
async def test_a_source_with_an_older_append_is_stored_to_and_its_missing_snapshots_are_said_once(
    caplog: pytest.LogCaptureFixture, base: type[InMemoryEventSource], snapshots: bool, wrapped: str
) -> None:
    caplog.set_level(logging.WARNING, "messagehandler.eventsource")
    kind = type(base.__name__, (base,), {})  # a class of its own: what is said once per class is said here
    store = kind()
    source: EventSource = {
        "direct": store,
        "observed": ObservedSource(store),
        "tenant": TenantScopedEventSource(lambda tenant, registry: store),
    }[wrapped]
    with message_context(tenant_id="north"):
        await stored_to(source)
    stored = await store.read_snapshot(COUNTER, "c")
    assert (stored.version if stored else None) == (10 if snapshots else None)
    told = [r.getMessage() for r in caplog.records if "takes no snapshot=" in r.getMessage()]
    if snapshots:
        assert told == []
    else:
        assert len(told) == 1
        assert told[0].startswith(f"{base.__name__}.append takes no snapshot=")


async def stored_to(source: EventSource) -> None:
    for amount in range(1, 13):
        repository = AggregateRepository(source)
        (await repository.get(Counter, "c")).add(amount)
        await repository.flush()

    counter = await AggregateRepository(source).get(Counter, "c")

    assert (counter.version, counter.total) == (12, 78)
