"""`CacheEventSource`: a cache seen through the `EventSource` protocol, read-only.

Any consumer of an event source (a projector, a catch-up reader) restores from the cache exactly as
from the store: events are deserialised by the same `JsonEventSerializer` path, and streams come
whole, in version order. A stream replicated over several runs lies in several places of the cache;
the page indexes say where, so each stream is read with only the pages that hold it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from os import PathLike
from pathlib import Path

from messagehandler.cache.errors import CacheError, CacheFileError
from messagehandler.cache.format import SegmentInfo
from messagehandler.cache.raw import BODY, STORED_AT_US, VERSION, RawEvent, Row, row_metadata, to_micros
from messagehandler.cache.reader import CacheReader
from messagehandler.cache.segments import open_segment, read_page_rows
from messagehandler.errors import UnreadableEventError
from messagehandler.events.event import Event
from messagehandler.events.preparing import ReadPreparer, read_preparer
from messagehandler.events.registry import EventTypeRegistry
from messagehandler.events.serialization import EventSerializer, JsonEventSerializer, many_deserializer
from messagehandler.eventsource.bad_rows import SkipBadRows, is_unreadable, settle, unreadable
from messagehandler.eventsource.keys import validate_stream
from messagehandler.eventsource.protocol import EventStream
from messagehandler.eventsource.snapshots import Snapshot
from messagehandler.files import file_errors

_Location = tuple[int, int, int, int]
"""segment position in the manifest, page offset, first row in the page, number of rows."""


class ReadOnlyCacheError(CacheError):
    """Something tried to append to a cache; only the replicator writes caches."""


class CacheEventSource:
    """Implements the reading half of `EventSource` over a cache directory; `append` raises."""

    def __init__(
        self,
        path: str | PathLike[str],
        registry: EventTypeRegistry | None = None,
        *,
        serializer: EventSerializer | None = None,
        cached_pages: int = 16,
    ) -> None:
        self._reader = CacheReader(path)
        self._serializer: EventSerializer = serializer if serializer is not None else JsonEventSerializer(registry)
        self._deserialize_many = many_deserializer(self._serializer)
        self._read_preparer = read_preparer(self._serializer)
        self._locations: dict[str, dict[str, list[_Location]]] | None = None
        self._pages: OrderedDict[tuple[int, int], tuple[Row, ...]] = OrderedDict()
        self._cached_pages = cached_pages

    @property
    def registry(self) -> EventTypeRegistry:
        return self._serializer.registry

    @property
    def path(self) -> Path:
        return self._reader.path

    @property
    def reader(self) -> CacheReader:
        return self._reader

    async def append(
        self,
        stream_type: str,
        stream_id: str,
        expected_version: int,
        events: Sequence[Event],
        *,
        version_known: bool = False,
        snapshot: Snapshot | None = None,
    ) -> None:
        raise ReadOnlyCacheError(f"the cache at {self.path} is read-only: append to the event store instead")

    def _index(self) -> dict[str, dict[str, list[_Location]]]:
        if self._locations is None:
            locations: dict[str, dict[str, list[_Location]]] = {}
            for number, info in enumerate(self._reader.segments):
                for page in self._reader.page_index(info):
                    for stream_type, stream_id, _first, last, first_seq in page.runs:
                        entry = (number, page.offset, first_seq - page.first_seq, last - _first + 1)
                        locations.setdefault(stream_type, {}).setdefault(stream_id, []).append(entry)
            self._locations = locations
        return self._locations

    def _page(self, number: int, offset: int) -> tuple[Row, ...]:
        key = (number, offset)
        rows = self._pages.get(key)
        if rows is not None:
            self._pages.move_to_end(key)
            return rows
        info: SegmentInfo = self._reader.segments[number]
        path = self.path / info.file
        with open_segment(self.path, info) as handle, file_errors("read segment", path, CacheFileError):
            _, rows = read_page_rows(path, handle, offset, info.size)
        self._pages[key] = rows
        if len(self._pages) > self._cached_pages:
            self._pages.popitem(last=False)
        return rows

    def _raw_stream(self, stream_type: str, stream_id: str) -> list[Row]:
        return self._rows_at(self._index().get(stream_type, {}).get(stream_id, []))

    def _rows_at(self, locations: list[_Location]) -> list[Row]:
        rows: list[Row] = []
        for number, offset, start, count in locations:
            rows.extend(self._page(number, offset)[start : start + count])
        return rows

    def _events(self, rows: list[Row]) -> list[Event]:
        return self._deserialize_many([(row_metadata(row), row[BODY]) for row in rows])

    async def _prepare(self, prepare: ReadPreparer, rows: list[Row]) -> None:
        """Fetch the keys of rows holding encrypted personal data (see `messagehandler.personal`)."""
        raws = map(RawEvent._make, rows)
        await prepare([(raw.metadata, raw.body) for raw in raws if raw.encryption_key_id is not None])

    async def load(self, stream_type: str, stream_id: str, *, from_version: int = 1) -> list[Event]:
        validate_stream(stream_type, stream_id)
        rows = [r for r in self._raw_stream(stream_type, stream_id) if r[VERSION] >= from_version]
        if self._read_preparer is not None:
            await self._prepare(self._read_preparer, rows)
        return self._events(rows)

    def read_type(self, stream_type: str, *, bad_rows: SkipBadRows | None = None) -> AsyncIterator[EventStream]:
        return self.read_changes(stream_type, bad_rows=bad_rows)

    async def read_changes(
        self, stream_type: str, since: datetime | None = None, *, bad_rows: SkipBadRows | None = None
    ) -> AsyncIterator[EventStream]:
        """Streams of the type as cached; a row that does not decode is handled as `EventSource.read_type` says."""
        threshold = None if since is None else to_micros(since)
        prepare = self._read_preparer
        for stream_id, locations in list(self._index().get(stream_type, {}).items()):
            rows = self._rows_at(locations)
            if threshold is not None:
                rows = [r for r in rows if r[STORED_AT_US] is not None and r[STORED_AT_US] >= threshold]
            if not rows:
                continue
            if prepare is not None:
                await self._prepare(prepare, rows)
            try:
                events = self._events(rows)
            except Exception as error:
                if not is_unreadable(error):
                    raise
                settle(bad_rows, self._unreadable(rows))
                continue
            yield EventStream(stream_type, stream_id, events)

    def _unreadable(self, rows: list[Row]) -> UnreadableEventError:
        """The first of `rows` that does not decode, named by its cache sequence number."""
        deserialize = self._serializer.deserialize
        for row in map(RawEvent._make, rows):
            try:
                deserialize(row.body, row.metadata)
            except Exception as error:
                return unreadable(
                    f"cache at {self.path} (seq {row.seq})",
                    error,
                    stream_type=row.stream_type,
                    stream_id=row.stream_id,
                    version=row.version,
                )
        raise AssertionError("every row decodes on its own")

    async def stream_ids(self, stream_type: str) -> AsyncIterator[str]:
        for stream_id in list(self._index().get(stream_type, {})):
            yield stream_id

    async def close(self) -> None:
        self._pages.clear()

    async def __aenter__(self) -> CacheEventSource:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
