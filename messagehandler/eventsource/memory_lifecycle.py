"""Archive and delete for `InMemoryEventSource`: the same rules as on Table Storage, on the source's dicts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

from messagehandler.events.metadata import EventMetadata
from messagehandler.events.preparing import read_preparer
from messagehandler.events.serialization import EventSerializer
from messagehandler.eventsource.keys import validate_stream
from messagehandler.eventsource.lifecycle import (
    LifecycleRecord,
    StreamState,
    archived_error,
    not_found,
    unpublished,
)
from messagehandler.eventsource.outbox import OutboxEntry
from messagehandler.eventsource.protocol import EventStream
from messagehandler.eventsource.snapshots import Snapshot


class InMemoryLifecycle:
    """Mixed into `InMemoryEventSource`: its streams, outbox and serializer, plus the lifecycle records."""

    _streams: dict[str, dict[str, list[tuple[EventMetadata, str]]]]
    _outbox: dict[str, dict[str, OutboxEntry]]
    _serializer: EventSerializer
    _lifecycle: dict[str, dict[str, LifecycleRecord]]
    _snapshots: dict[str, dict[str, Snapshot]]

    async def archive(
        self, stream_type: str, stream_id: str, *, who: str | None = None, reason: str | None = None
    ) -> LifecycleRecord:
        known = self._ready_for(stream_type, stream_id, "archive")
        if known is not None:
            if known.state is StreamState.DELETED:
                raise archived_error(known)
            return known
        return self._record(stream_type, stream_id, StreamState.ARCHIVED, who, reason)

    async def unarchive(self, stream_type: str, stream_id: str) -> bool:
        validate_stream(stream_type, stream_id)
        records = self._lifecycle.get(stream_type, {})
        known = records.get(stream_id)
        if known is None or known.state is not StreamState.ARCHIVED:
            return False
        del records[stream_id]
        return True

    async def delete(
        self, stream_type: str, stream_id: str, *, who: str | None = None, reason: str | None = None
    ) -> LifecycleRecord:
        known = self._ready_for(stream_type, stream_id, "delete")
        if known is not None and known.state is StreamState.DELETED:
            return known
        record = self._record(stream_type, stream_id, StreamState.DELETED, who, reason)
        self._streams[stream_type].pop(stream_id, None)
        self._snapshots.get(stream_type, {}).pop(stream_id, None)
        return record

    async def lifecycle(self, stream_type: str, stream_id: str) -> LifecycleRecord | None:
        validate_stream(stream_type, stream_id)
        return self._lifecycle.get(stream_type, {}).get(stream_id)

    async def read_archived(self, stream_type: str) -> AsyncIterator[EventStream]:
        records = self._lifecycle.get(stream_type, {})
        streams = self._streams.get(stream_type, {})
        for stream_id in [s for s, r in records.items() if r.state is StreamState.ARCHIVED and s in streams]:
            rows = streams[stream_id]
            deserialize = self._serializer.deserialize
            if (prepare := read_preparer(self._serializer)) is not None:
                await prepare(rows)
            yield EventStream(stream_type, stream_id, [deserialize(body, meta) for meta, body in rows])

    def _ready_for(self, stream_type: str, stream_id: str, action: str) -> LifecycleRecord | None:
        """The stream's record, after checking it exists and has nothing left to publish."""
        validate_stream(stream_type, stream_id)
        known = self._lifecycle.get(stream_type, {}).get(stream_id)
        if known is not None and known.state is StreamState.DELETED:
            return known
        if not self._streams.get(stream_type, {}).get(stream_id):
            raise not_found(stream_type, stream_id)
        if stream_id in self._outbox.get(stream_type, {}):
            raise unpublished(stream_type, stream_id, action)
        return known

    def _record(
        self, stream_type: str, stream_id: str, state: StreamState, who: str | None, reason: str | None
    ) -> LifecycleRecord:
        last = len(self._streams[stream_type][stream_id])
        record = LifecycleRecord(stream_type, stream_id, state, last, datetime.now(UTC), who, reason)
        self._lifecycle.setdefault(stream_type, {})[stream_id] = record
        return record
