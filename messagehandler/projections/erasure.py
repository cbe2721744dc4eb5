"""Purging a forgotten data subject from read models: re-project its streams from the erased events.

`keyring.forget(subject)` makes every stored copy of the subject's marked fields unreadable, but a
read model projected before holds the values it read then in plaintext, and catch-up never applies
those streams again because nothing new was stored in them. After `forget`, call `reproject_into`
(a search index or any record store) and `DurableReadModel.reproject` with the subject's streams: each
is loaded whole and projected from scratch, so its record holds the erased values; a stream that no
longer loads (deleted) or that no projection handles any more loses its record. A store that keeps
deleted bytes until it compacts (`SqliteSearchIndex.compact`) is compacted, so its file holds no trace.

Which streams: by default an event's data subject is its stream id, so `[subject]`; when a field
names the subject (`DataSubject`) in other streams, `streams_sealed_with(source, stream_type,
erasure.key_ids)` finds them by reading the whole stream type, since no index maps keys to streams.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol, TypeVar, runtime_checkable

from messagehandler.eventsource.bad_rows import SkipBadRows
from messagehandler.eventsource.lifecycle import StreamDeletedError
from messagehandler.eventsource.protocol import EventSource
from messagehandler.projections.builder import Factory, RecordBuilder

R = TypeVar("R")
R_contra = TypeVar("R_contra", contravariant=True)


class RecordStore(Protocol[R_contra]):
    """Where records are replaced or removed by id; every `SearchIndex` is one."""

    async def upsert(self, records: Mapping[str, R_contra]) -> None: ...

    async def delete(self, ids: Iterable[str]) -> None: ...


@runtime_checkable
class Compactable(Protocol):
    """A store that keeps replaced bytes until asked to compact, as SQLite's full-text index does."""

    async def compact(self) -> None: ...


@dataclass(frozen=True)
class Reprojected:
    """The streams whose records were replaced, and those whose records were removed."""

    upserted: tuple[str, ...]
    removed: tuple[str, ...]


async def reproject_streams(
    source: EventSource,
    builder: RecordBuilder[R],
    stream_type: str,
    stream_ids: Iterable[str],
    factory: Factory[R],
    *,
    seen: Callable[[str], int] | None = None,
) -> dict[str, R | None]:
    """Each stream's record projected from scratch from its stored events; None when it has none now.

    With `seen` (a read model's position), only the versions it has seen are projected: the events
    after them are the next catch-up's, and projecting them here too would apply them twice.
    """
    records: dict[str, R | None] = {}
    for stream_id in dict.fromkeys(stream_ids):
        try:
            events = await source.load(stream_type, stream_id)
        except StreamDeletedError:
            events = []
        if seen is not None:
            last = seen(stream_id)
            events = [event for event in events if event.metadata.version <= last]
        records[stream_id] = builder.project(None, events, stream_id, factory)
    return records


async def reproject_into(
    source: EventSource,
    builder: RecordBuilder[R],
    store: RecordStore[R],
    stream_type: str,
    stream_ids: Iterable[str],
    factory: Factory[R],
) -> Reprojected:
    """Replace the records of `stream_ids` in `store` with ones projected afresh, then compact the store."""
    records = await reproject_streams(source, builder, stream_type, stream_ids, factory)
    kept = {stream_id: record for stream_id, record in records.items() if record is not None}
    removed = tuple(stream_id for stream_id, record in records.items() if record is None)
    if kept:
        await store.upsert(kept)
    if removed:
        await store.delete(removed)
    if isinstance(store, Compactable):
        await store.compact()
    return Reprojected(tuple(kept), removed)


async def streams_sealed_with(
    source: EventSource, stream_type: str, key_ids: Iterable[str], *, bad_rows: SkipBadRows | None = None
) -> list[str]:
    """The streams of a type holding an event sealed with one of `key_ids` (an `ErasureRecord`'s); reads them all."""
    wanted = set(key_ids)
    streams = source.read_type(stream_type) if bad_rows is None else source.read_type(stream_type, bad_rows=bad_rows)
    return [
        stream.stream_id
        async for stream in streams
        if any(event.metadata.encryption_key_id in wanted for event in stream.events)
    ]
