"""An `EventSource` that reports what it hands out: for progress bars and for counting reads in tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime

from messagehandler.events.event import Event
from messagehandler.events.registry import EventTypeRegistry
from messagehandler.eventsource.append_options import append
from messagehandler.eventsource.bad_rows import SkipBadRows
from messagehandler.eventsource.outbox import OutboxEntry
from messagehandler.eventsource.protocol import EventSource, EventStream
from messagehandler.eventsource.snapshots import Snapshot, SnapshotSource


class ObservedSource:
    """Delegates to `inner`; calls `on_stream` for every stream read in bulk and `on_load` for every load."""

    def __init__(
        self,
        inner: EventSource,
        *,
        on_stream: Callable[[EventStream], None] | None = None,
        on_load: Callable[[list[Event]], None] | None = None,
    ) -> None:
        self.inner = inner
        self._on_stream = on_stream
        self._on_load = on_load

    @property
    def registry(self) -> EventTypeRegistry:
        return self.inner.registry

    def current(self) -> EventSource:
        """The source serving this call, so a state cache keys entries by the store, not the wrapper."""
        return self.inner

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
        return await append(
            self.inner, stream_type, stream_id, expected_version, events, version_known=version_known, snapshot=snapshot
        )

    async def read_snapshot(self, stream_type: str, stream_id: str) -> Snapshot | None:
        """The inner source's snapshot; None when it keeps none."""
        if not isinstance(self.inner, SnapshotSource):
            return None
        return await self.inner.read_snapshot(stream_type, stream_id)

    async def load(self, stream_type: str, stream_id: str, *, from_version: int = 1) -> list[Event]:
        events = await self.inner.load(stream_type, stream_id, from_version=from_version)
        if self._on_load is not None:
            self._on_load(events)
        return events

    def read_type(self, stream_type: str, *, bad_rows: SkipBadRows | None = None) -> AsyncIterator[EventStream]:
        if bad_rows is None:
            return self._observed(self.inner.read_type(stream_type))
        return self._observed(self.inner.read_type(stream_type, bad_rows=bad_rows))

    def read_changes(
        self, stream_type: str, since: datetime | None = None, *, bad_rows: SkipBadRows | None = None
    ) -> AsyncIterator[EventStream]:
        if bad_rows is None:
            return self._observed(self.inner.read_changes(stream_type, since))
        return self._observed(self.inner.read_changes(stream_type, since, bad_rows=bad_rows))

    async def _observed(self, streams: AsyncIterator[EventStream]) -> AsyncIterator[EventStream]:
        async for stream in streams:
            if self._on_stream is not None:
                self._on_stream(stream)
            yield stream

    def stream_ids(self, stream_type: str) -> AsyncIterator[str]:
        return self.inner.stream_ids(stream_type)

    async def close(self) -> None:
        await self.inner.close()
