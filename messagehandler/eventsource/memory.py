"""The embedded event source: streams in a dict, bodies stored as JSON.

Events are serialised on append and deserialised on load, exactly as a durable store would, so a
payload that cannot be stored fails here in tests and a loaded event never aliases an emitted one.
Appends are checked against Table Storage's limits by default, on the very rows the Table Storage
source would write, so what passes here passes in production.
"""

from __future__ import annotations

import bisect
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta

from messagehandler.errors import ConcurrencyError, UnreadableEventError
from messagehandler.events.event import Event
from messagehandler.events.metadata import EventMetadata
from messagehandler.events.preparing import prepare_to_write, read_preparer
from messagehandler.events.registry import EventTypeRegistry
from messagehandler.events.serialization import EventSerializer, JsonEventSerializer, many_deserializer
from messagehandler.eventsource.appends import check_append
from messagehandler.eventsource.bad_rows import SkipBadRows, is_unreadable, settle, unreadable
from messagehandler.eventsource.keys import validate_stream
from messagehandler.eventsource.lifecycle import LifecycleRecord, archived_error
from messagehandler.eventsource.limits import DEFAULT_LIMITS, TableLimits, check_rows, snapshot_fits, surely_within
from messagehandler.eventsource.memory_lifecycle import InMemoryLifecycle
from messagehandler.eventsource.outbox import OutboxEntry
from messagehandler.eventsource.outbox_rows import outbox_entity
from messagehandler.eventsource.protocol import EventStream
from messagehandler.eventsource.rows import BODY_CHUNK_CHARS, to_entity
from messagehandler.eventsource.snapshot_rows import snapshot_entity
from messagehandler.eventsource.snapshots import Snapshot
from messagehandler.telemetry.attributes import MEMORY_SYSTEM
from messagehandler.telemetry.propagation import current_trace
from messagehandler.telemetry.store import store_attributes, traced_append, traced_load, traced_read

_Row = tuple[EventMetadata, str]


class InMemoryEventSource(InMemoryLifecycle):
    """Implements `EventSource` in process memory; the default for tests and embedded use.

    `limits` are the Table Storage limits every append is checked against (entities and bytes per
    transaction, entity size, properties per entity, string property length), the same as the Table
    Storage source's, with the same errors. Pass `limits=None` for unit tests that want none; the key
    rules and the round-trip rule of event payloads hold regardless.
    """

    def __init__(
        self,
        registry: EventTypeRegistry | None = None,
        *,
        serializer: EventSerializer | None = None,
        outbox: bool = False,
        limits: TableLimits | None = DEFAULT_LIMITS,
    ) -> None:
        self._limits = limits
        self._serializer: EventSerializer = serializer if serializer is not None else JsonEventSerializer(registry)
        self._deserialize_many = many_deserializer(self._serializer)
        self._streams: dict[str, dict[str, list[_Row]]] = {}
        self._outbox_enabled = outbox
        self._outbox: dict[str, dict[str, OutboxEntry]] = {}
        self._lifecycle: dict[str, dict[str, LifecycleRecord]] = {}
        self._snapshots: dict[str, dict[str, Snapshot]] = {}
        self._tokens = 0
        self._last_stored_at = datetime.min.replace(tzinfo=UTC)

    @property
    def registry(self) -> EventTypeRegistry:
        return self._serializer.registry

    @property
    def telemetry_attributes(self) -> dict[str, str]:
        return store_attributes(MEMORY_SYSTEM)

    @traced_append
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
        """Store `events` after `expected_version` (see `EventSource.append`); the length of the stream decides.

        A snapshot is kept when its row would fit Table Storage's limits beside the events', as it
        would be there.
        """
        check_append(stream_type, stream_id, expected_version, events)
        if not events:
            return None
        if (record := self._lifecycle.get(stream_type, {}).get(stream_id)) is not None:
            raise archived_error(record)
        await prepare_to_write(self._serializer, events)
        serialize = self._serializer.serialize
        bodies = [serialize(event) for event in events]
        if not surely_within(events, bodies, self._limits):
            assert self._limits is not None
            self._check_limits(stream_type, stream_id, expected_version, events, bodies, self._limits)
        stored_at = self._commit_time()
        rows = [(event.metadata.with_stored_at(stored_at), body) for event, body in zip(events, bodies, strict=True)]
        streams = self._streams.setdefault(stream_type, {})
        stream = streams.get(stream_id, [])
        if len(stream) != expected_version:
            if self._already_stored(stream, expected_version, rows):
                return self._outbox.get(stream_type, {}).get(stream_id)
            raise ConcurrencyError(stream_type, stream_id, expected_version, len(stream))
        if stream:
            stream.extend(rows)
        else:
            streams[stream_id] = rows
        if snapshot is not None and self._snapshot_fits(stream_type, stream_id, events, bodies, snapshot):
            self._snapshots.setdefault(stream_type, {})[stream_id] = snapshot
        return self._record_outbox(
            stream_type, stream_id, expected_version + 1, expected_version + len(rows), stored_at
        )

    def _check_limits(
        self,
        stream_type: str,
        stream_id: str,
        expected_version: int,
        events: Sequence[Event],
        bodies: list[str],
        limits: TableLimits,
    ) -> None:
        rows = [
            to_entity(stream_type, event, body, BODY_CHUNK_CHARS) for event, body in zip(events, bodies, strict=True)
        ]
        outbox_row = None
        if self._outbox_enabled:
            outbox_row = outbox_entity(stream_type, stream_id, expected_version + 1, expected_version + len(events))
        check_rows(f"{stream_type}/{stream_id}", rows, limits, outbox_row=outbox_row)

    def _snapshot_fits(
        self, stream_type: str, stream_id: str, events: Sequence[Event], bodies: list[str], snapshot: Snapshot
    ) -> bool:
        if self._limits is None:
            return True
        rows = [
            to_entity(stream_type, event, body, BODY_CHUNK_CHARS) for event, body in zip(events, bodies, strict=True)
        ]
        snapshot_row = snapshot_entity(stream_type, stream_id, snapshot, BODY_CHUNK_CHARS)
        outbox_row = None
        if self._outbox_enabled:
            outbox_row = outbox_entity(stream_type, stream_id, 1, events[-1].metadata.version)
        return snapshot_fits(f"{stream_type}/{stream_id}", rows, snapshot_row, self._limits, outbox_row=outbox_row)

    async def read_snapshot(self, stream_type: str, stream_id: str) -> Snapshot | None:
        validate_stream(stream_type, stream_id)
        return self._snapshots.get(stream_type, {}).get(stream_id)

    def _record_outbox(
        self, stream_type: str, stream_id: str, first: int, last: int, stored_at: datetime
    ) -> OutboxEntry | None:
        if not self._outbox_enabled:
            return None
        entries = self._outbox.setdefault(stream_type, {})
        older = entries.get(stream_id)
        self._tokens += 1
        trace = current_trace()
        entry = OutboxEntry(
            stream_type,
            stream_id,
            older.from_version if older else first,
            last,
            str(self._tokens),
            since=older.since if older else stored_at,
            traceparent=None if trace is None else trace.traceparent,
            tracestate=None if trace is None else trace.tracestate,
            written_at=stored_at,
        )
        entries[stream_id] = entry
        return entry

    @property
    def outbox_enabled(self) -> bool:
        return self._outbox_enabled

    async def pending(self, stream_type: str) -> AsyncIterator[OutboxEntry]:
        entries = self._outbox.get(stream_type, {})
        for stream_id in sorted(entries):
            entry = entries.get(stream_id)
            if entry is not None:
                yield entry

    async def clear(self, entry: OutboxEntry) -> bool:
        return self._clear(entry)

    def clear_later(self, entry: OutboxEntry) -> None:
        """Clear at once: in memory a clear costs no round trip, so there is nothing to defer."""
        self._clear(entry)

    def _clear(self, entry: OutboxEntry) -> bool:
        entries = self._outbox.get(entry.stream_type, {})
        current = entries.get(entry.stream_id)
        if current is None:
            return True
        if current.token != entry.token:
            return False
        del entries[entry.stream_id]
        return True

    async def cleared(self) -> None:
        """Every clear is done at once; present so both sources offer the same outbox."""

    def _commit_time(self) -> datetime:
        """Like a store's commit timestamp, but strictly increasing so tests of catch-up are exact."""
        now = datetime.now(UTC)
        self._last_stored_at = max(now, self._last_stored_at + timedelta(microseconds=1))
        return self._last_stored_at

    @staticmethod
    def _already_stored(stream: list[_Row], expected_version: int, rows: list[_Row]) -> bool:
        stored = stream[expected_version : expected_version + len(rows)]
        return len(stored) == len(rows) and all(
            s[0].event_id == r[0].event_id for s, r in zip(stored, rows, strict=True)
        )

    @traced_load
    async def load(self, stream_type: str, stream_id: str, *, from_version: int = 1) -> list[Event]:
        validate_stream(stream_type, stream_id)
        stream = self._streams.get(stream_type, {}).get(stream_id)
        if not stream:
            record = self._lifecycle.get(stream_type, {}).get(stream_id)
            if record is not None:
                raise archived_error(record)
            return []
        rows = stream[max(from_version, 1) - 1 :]
        if (prepare := read_preparer(self._serializer)) is not None:
            await prepare(rows)
        return self._deserialize_many(rows)

    def read_type(self, stream_type: str, *, bad_rows: SkipBadRows | None = None) -> AsyncIterator[EventStream]:
        return self.read_changes(stream_type, bad_rows=bad_rows)

    @traced_read
    async def read_changes(
        self, stream_type: str, since: datetime | None = None, *, bad_rows: SkipBadRows | None = None
    ) -> AsyncIterator[EventStream]:
        prepare = read_preparer(self._serializer)
        streams = self._streams.get(stream_type, {})
        retired = self._lifecycle.get(stream_type, {})
        for stream_id in [s for s in streams if s not in retired]:
            rows = streams[stream_id]
            start = 0 if since is None else bisect.bisect_left(rows, since, key=_stored_at)
            if start < len(rows):
                if prepare is not None:
                    await prepare(rows[start:])
                try:
                    events = self._deserialize_many(rows[start:])
                except Exception as error:
                    if not is_unreadable(error):
                        raise
                    settle(bad_rows, self._unreadable(stream_type, stream_id, rows[start:], error))
                    continue
                yield EventStream(stream_type, stream_id, events)

    def _unreadable(
        self, stream_type: str, stream_id: str, rows: list[_Row], error: BaseException
    ) -> UnreadableEventError:
        """The first row of `rows` that does not decode (the one that raised `error`)."""
        deserialize = self._serializer.deserialize
        for meta, body in rows:
            try:
                deserialize(body, meta)
            except Exception as row_error:
                return unreadable(
                    "in-memory source", row_error, stream_type=stream_type, stream_id=stream_id, version=meta.version
                )
        return unreadable("in-memory source", error, stream_type=stream_type, stream_id=stream_id, version=None)

    async def stream_ids(self, stream_type: str) -> AsyncIterator[str]:
        for stream_id in list(self._streams.get(stream_type, {})):
            yield stream_id

    async def close(self) -> None:
        """Nothing to release; present so every source can be used the same way."""

    async def __aenter__(self) -> InMemoryEventSource:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


def _stored_at(row: _Row) -> datetime:
    stored_at = row[0].stored_at
    assert stored_at is not None
    return stored_at
