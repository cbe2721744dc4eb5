"""The life of a stream after its last command: archived (kept, out of the way) or deleted (gone, with a tombstone).

- **Archive** marks a stream finished. Its events stay where they are and still load by id
  (`load`), but bulk readers leave it out: `read_type`, `read_changes`, and so restores, the
  catch-up feed, replication. `read_archived` reads archived streams on request, and `unarchive`
  makes one live again. An archived stream is read-only: an append raises `StreamArchivedError`.
- **Delete** removes a stream's events for good (test data, a legal obligation) and leaves a
  tombstone, so the id cannot silently start again at version 1: loading or appending to it raises
  `StreamDeletedError`. Copies elsewhere (caches, consumers' read models, backups) are not reached;
  forget the data subject's key to make those unreadable too (`messagehandler.personal`).

Both are recorded (who, when, why, the last version) in the stream's own place in the store, and
both are refused with `UnpublishedEventsError` while the stream has outbox entries: run the relay
first, so no committed event is lost to the channels.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from messagehandler.errors import MessageHandlerError, Remedy
from messagehandler.eventsource.protocol import EventStream


class StreamState(enum.Enum):
    ARCHIVED = "Archived"
    DELETED = "Deleted"


@dataclass(frozen=True, slots=True)
class LifecycleRecord:
    """That a stream was archived or deleted: by whom, when, why, and its last version then."""

    stream_type: str
    stream_id: str
    state: StreamState
    last_version: int
    when: datetime
    who: str | None = None
    reason: str | None = None

    @property
    def stream(self) -> str:
        return f"{self.stream_type}/{self.stream_id}"


class StreamLifecycleError(MessageHandlerError):
    """A stream cannot be used, or changed, as asked because of where it is in its life."""

    def __init__(self, message: str, stream: str, record: LifecycleRecord | None = None) -> None:
        self.stream = stream
        self.record = record
        super().__init__(message)


class StreamArchivedError(StreamLifecycleError):
    """An append to an archived stream: unarchive it first."""


class StreamDeletedError(StreamLifecycleError):
    """The stream was deleted; its id cannot be used again."""


class StreamNotFoundError(StreamLifecycleError):
    """Archive or delete named a stream that has no events."""


class UnpublishedEventsError(StreamLifecycleError):
    """The stream has outbox entries not yet published: run the relay, then try again."""

    remedy = Remedy.RETRY_LATER


def archived_error(record: LifecycleRecord) -> StreamLifecycleError:
    """The error for writing to (or archiving) a stream in the state `record` describes."""
    by = f" by {record.who}" if record.who else ""
    if record.state is StreamState.DELETED:
        return StreamDeletedError(
            f"stream {record.stream} was deleted{by} at {record.when.isoformat()} (at version {record.last_version}); "
            "its id cannot be used again",
            record.stream,
            record,
        )
    return StreamArchivedError(
        f"stream {record.stream} is archived{by} since {record.when.isoformat()} (at version {record.last_version}) "
        "and read-only: unarchive it before appending",
        record.stream,
        record,
    )


def not_found(stream_type: str, stream_id: str) -> StreamNotFoundError:
    return StreamNotFoundError(f"stream {stream_type}/{stream_id} has no events", f"{stream_type}/{stream_id}")


def unpublished(stream_type: str, stream_id: str, action: str) -> UnpublishedEventsError:
    return UnpublishedEventsError(
        f"cannot {action} stream {stream_type}/{stream_id}: it has events in the outbox that are not published yet; "
        "run the outbox relay, then try again",
        f"{stream_type}/{stream_id}",
    )


@runtime_checkable
class StreamLifecycle(Protocol):
    """Archive and delete, offered by both built-in event sources; the contract suite covers both."""

    async def archive(
        self, stream_type: str, stream_id: str, *, who: str | None = None, reason: str | None = None
    ) -> LifecycleRecord:
        """Mark the stream archived (idempotent: an archived stream returns its record).

        Raises:
            StreamNotFoundError: the stream has no events.
            StreamDeletedError: the stream was deleted.
            UnpublishedEventsError: the stream has outbox entries not yet published.
        """
        ...

    async def unarchive(self, stream_type: str, stream_id: str) -> bool:
        """Make an archived stream live again; False when it was not archived."""
        ...

    async def delete(
        self, stream_type: str, stream_id: str, *, who: str | None = None, reason: str | None = None
    ) -> LifecycleRecord:
        """Remove the stream's events and leave a tombstone (idempotent: a deleted stream returns its record).

        Raises:
            StreamNotFoundError: the stream has no events.
            UnpublishedEventsError: the stream has outbox entries not yet published.
        """
        ...

    async def lifecycle(self, stream_type: str, stream_id: str) -> LifecycleRecord | None:
        """The record of an archived or deleted stream; None for a live (or never written) one."""
        ...

    def read_archived(self, stream_type: str) -> AsyncIterator[EventStream]:
        """The archived streams of a type, whole: what `read_type` leaves out."""
        ...
