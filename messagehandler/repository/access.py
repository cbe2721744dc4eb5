"""How the repository loads an aggregate type, and what it stores beside its events: the access strategy.

Strategies are data, set per aggregate type as Equinox sets them per category:

    repository = AggregateRepository(source, access={Organization: Cached(Snapshots())})

An aggregate type without one is loaded by `FullReplay`, or by `Snapshots` when it declares a
snapshot policy (`EventSourced` with `snapshots=SnapshotPolicy(...)`). A strategy object may keep
state across units of work (`Cached` does), so create it once and give it to every repository.

Every strategy keeps one promise the repository builds on: the aggregate it returns is at a version
whose event it read from the store during that load. The repository then appends after that version
with `version_known`, one request with no existence check, and the transaction still detects any
writer that got there first.
"""

from __future__ import annotations

from typing import Protocol, TypeVar, runtime_checkable

from messagehandler.domain.aggregate import EventSourced
from messagehandler.eventsource.protocol import EventSource
from messagehandler.eventsource.snapshots import Snapshot

A = TypeVar("A", bound=EventSourced)


@runtime_checkable
class AccessStrategy(Protocol):
    """Loads aggregates of one type, and contributes to and learns from their appends."""

    async def load(self, source: EventSource, aggregate_type: type[A], id: str) -> A:
        """The aggregate at the stream's current version, having read the event at that version."""
        ...

    def snapshot(self, aggregate: EventSourced) -> Snapshot | None:
        """A snapshot to store with the aggregate's pending events, in the same transaction; or None."""
        ...

    async def stored(self, source: EventSource, aggregate: EventSourced) -> None:
        """The aggregate's pending events were committed through `source` (its `commit()` has run)."""
        ...


class FullReplay:
    """Replay the whole stream: every event from version 1. The default, and always correct."""

    async def load(self, source: EventSource, aggregate_type: type[A], id: str) -> A:
        aggregate = aggregate_type(id)
        aggregate.restore_from(await source.load(aggregate_type.stream_type(), id))
        return aggregate

    def snapshot(self, aggregate: EventSourced) -> Snapshot | None:
        return None

    async def stored(self, source: EventSource, aggregate: EventSourced) -> None:
        return None

    def __repr__(self) -> str:
        return "FullReplay()"


FULL_REPLAY = FullReplay()
