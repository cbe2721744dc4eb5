"""The `EventSource` protocol: what every event store offers the repository and the projections.

Versions are positions in one stream, starting at 1; `expected_version` is the version the stream has
before an append (0 for a new stream). There is no global order across streams: Table Storage has
none, so the protocol does not pretend otherwise.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from messagehandler.events.event import Event
from messagehandler.events.registry import EventTypeRegistry
from messagehandler.eventsource.bad_rows import SkipBadRows
from messagehandler.eventsource.outbox import OutboxEntry
from messagehandler.eventsource.snapshots import Snapshot


@dataclass(frozen=True, slots=True)
class EventStream:
    """All events of one stream, in version order, as yielded by `EventSource.read_type`."""

    stream_type: str
    stream_id: str
    events: list[Event]

    @property
    def version(self) -> int:
        return self.events[-1].metadata.version if self.events else 0


@runtime_checkable
class EventSource(Protocol):
    """Append-only storage of event streams, grouped by stream type."""

    @property
    def registry(self) -> EventTypeRegistry:
        """The event types this source can deserialise; the repository registers aggregates' types here."""
        ...

    async def append(
        self,
        stream_type: str,
        stream_id: str,
        expected_version: int,
        events: Sequence[Event],
        *,
        version_known: bool = False,
        snapshot: Snapshot | None = None,
    ) -> OutboxEntry | None:
        """Store `events` atomically after `expected_version`, or raise `ConcurrencyError` and store nothing.

        With an outbox, the returned entry (committed in the same transaction) names the versions
        still to publish, which may start before these events; without one, None.

        The events must carry metadata for this stream with versions `expected_version + 1, ...`.
        Appending events whose ids are already stored at those versions succeeds without duplicates,
        so a flush retried after an ambiguous failure is safe.

        `version_known` says the caller read the stream's event at `expected_version` in this unit of
        work (the repository does, for every stream it loaded or stored): a store that detects
        conflicts by creating the next version's row may then skip its check that the expected
        version exists, the one thing creating that row cannot tell (appending after version 5 to a
        stream of 3 events would leave a gap). `snapshot` is stored in the same transaction, when
        the store keeps snapshots (`SnapshotSource`) and it fits; a snapshot that would not fit is
        left out, logged, and the events are stored without it.
        """
        ...

    async def load(self, stream_type: str, stream_id: str, *, from_version: int = 1) -> list[Event]:
        """Events of one stream with version >= `from_version`, in order; empty when there are none."""
        ...

    def read_type(self, stream_type: str, *, bad_rows: SkipBadRows | None = None) -> AsyncIterator[EventStream]:
        """Every stream of a type, one at a time; memory holds one stream, not the whole type.

        A row that cannot be read raises `UnreadableEventError` naming it; with a `SkipBadRows`
        policy its stream is skipped instead and the row reported to the policy.
        """
        ...

    def read_changes(
        self, stream_type: str, since: datetime | None = None, *, bad_rows: SkipBadRows | None = None
    ) -> AsyncIterator[EventStream]:
        """Streams of a type with events stored at or after `since`, each holding only those events.

        `since` is compared with `EventMetadata.stored_at`, the store's own commit time. A transaction
        in flight may commit with a time earlier than one already read, so a consumer catching up
        re-reads a safety margin before its high-water mark and skips versions it has seen; see
        `messagehandler.eventsource.positions`. With `since=None` this is `read_type`. Unreadable rows
        are handled as in `read_type`.
        """
        ...

    def stream_ids(self, stream_type: str) -> AsyncIterator[str]:
        """The ids of the streams of a type."""
        ...

    async def close(self) -> None: ...
