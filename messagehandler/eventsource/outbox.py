"""The outbox: the intent to publish, committed in the same transaction as the events.

One outbox entry per stream holds the range of versions not yet published. An append creates the
entry, or extends it when older events of the stream are still unpublished, inside the append's own
transaction; so a crash after the commit leaves a record that the relay finds, and a crash before it
leaves neither events nor entry. The entry carries a token (an ETag on Table Storage) that changes
whenever an append extends it: clearing with a stale token fails, so the publisher of the newest
range is the one that removes it, and nothing is dropped.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

OUTBOX_ROW_PREFIX = "$outbox_"
"""Row keys of outbox entries start with this; stream ids may not start with `$` (see keys.py)."""


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """Versions `from_version..to_version` of one stream are committed but not known to be published.

    `since` is when the entry was created (an append extending it keeps it), for the backlog's age;
    `traceparent` and `tracestate` are the W3C trace context of the append that wrote it last, so the
    relay continues that trace; `written_at` is when the store last wrote it (Table Storage's
    `Timestamp`), whose age tells the relay whether a flush may still be publishing it; `read_at` is
    the store's own time when it listed the entry (the response's `Date`), so that age is measured on
    one clock. All may be None (entries written without them, or read from a source that does not
    keep them).
    """

    stream_type: str
    stream_id: str
    from_version: int
    to_version: int
    token: str
    since: datetime | None = None
    traceparent: str | None = None
    tracestate: str | None = None
    written_at: datetime | None = field(default=None, compare=False)
    read_at: datetime | None = field(default=None, compare=False)

    @property
    def stream(self) -> str:
        return f"{self.stream_type}/{self.stream_id}"


@runtime_checkable
class Outbox(Protocol):
    """What the dispatcher and the relay need from an event source that keeps an outbox."""

    @property
    def outbox_enabled(self) -> bool: ...

    def pending(self, stream_type: str) -> AsyncIterator[OutboxEntry]:
        """Entries of a type, in stream-id order; each entry is one stream."""
        ...

    async def clear(self, entry: OutboxEntry) -> bool:
        """Remove the entry if it is unchanged since it was read; False when an append extended it.

        An entry that is already gone counts as cleared.
        """
        ...


@runtime_checkable
class DeferredClearing(Protocol):
    """An outbox that clears published entries later, in batches, so a flush does not wait for it."""

    def clear_later(self, entry: OutboxEntry) -> None:
        """Clear the entry soon, if it is unchanged by then; an entry that cannot be cleared stays for the relay."""
        ...

    async def cleared(self) -> None:
        """Wait until every entry given to `clear_later` so far was cleared (or left for the relay)."""
        ...
