"""Snapshots as event sources store them: the state of one aggregate at one version, written with its events.

A snapshot is written in the same transaction as the events that bring the aggregate to its version,
so it never describes a state the store does not hold. It sits beside the stream (on Table Storage a
`$snapshot_{id}` row in the stream's partition, next to `$outbox_{id}`), one per stream, each new one
replacing the last. It is not an event: loads, bulk reads, the catch-up feed, the cache and the relay
never see it. Deleting a stream deletes its snapshot; archiving keeps it.

What the state means is the aggregate's business (`messagehandler.domain.snapshots`): the store keeps
its JSON text and the `schema` the aggregate's code wrote it with, and hands both back unread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

SNAPSHOT_ROW_PREFIX = "$snapshot_"
"""Row keys of snapshots start with this; stream ids may not start with `$` (see keys.py)."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """An aggregate's state after the event at `version`, as JSON text, tagged with the `schema` that wrote it.

    `event_id` is the id of that event: a stream restored from an older backup and written again
    holds another event at the same version, and the snapshot no longer describes it. None in a
    snapshot stored before ids were kept, which loads cannot check and so do not use.
    """

    version: int
    schema: str
    state: str
    event_id: str | None = None


@runtime_checkable
class SnapshotSource(Protocol):
    """An event source that keeps snapshots: it takes one with `append(..., snapshot=)` and reads the latest back."""

    async def read_snapshot(self, stream_type: str, stream_id: str) -> Snapshot | None:
        """The stream's latest snapshot; None when it has none (or its row cannot be read)."""
        ...
