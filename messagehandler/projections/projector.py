"""The projector: restores records from an event source, and applies single events in real time."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping, Sequence
from typing import Any, Protocol, TypeVar, overload

from messagehandler.events.event import Event
from messagehandler.eventsource.bad_rows import SkipBadRows, load_failed
from messagehandler.eventsource.protocol import EventSource, EventStream
from messagehandler.projections.builder import Factory, RecordBuilder
from messagehandler.projections.erasure import RecordStore, Reprojected, reproject_into
from messagehandler.projections.errors import NoProjectionError
from messagehandler.projections.projection import Projection
from messagehandler.telemetry.rebuilds import restoring

R = TypeVar("R")

ProjectionLike = Projection[Any] | type[Projection[Any]]

DEFAULT_BATCH = 1_000


class RecordSink(Protocol[R]):
    """Where `Projector.restore_into` writes records as it goes; every `SearchIndex` is one."""

    async def upsert(self, records: Mapping[str, R]) -> None: ...

    async def get(self, id: str) -> R | None: ...


def instantiate(projections: Sequence[ProjectionLike]) -> list[Projection[Any]]:
    """Projections given as classes are created without arguments; instances are used as they are."""
    return [p() if isinstance(p, type) else p for p in projections]


def builder_for(record_type: type[R], projections: Sequence[Projection[Any]]) -> RecordBuilder[R]:
    """The projections building `record_type` (or a base class of it), in the order given."""
    chosen = [p for p in projections if issubclass(record_type, type(p).builds())]
    if not chosen:
        raise NoProjectionError(record_type, [type(p).builds() for p in projections])
    return RecordBuilder(record_type, chosen)


class Projector:
    """Builds read models from the streams of an event source with the projections given.

    `restore` reads a stream type one stream at a time (`EventSource.read_type`; a sharded Table
    Storage source reads its shards concurrently), so memory holds the records, not the events.
    The event classes the projections' handlers name are registered on the source's registry, so a
    reader process needs nothing else to deserialise them.
    """

    def __init__(self, source: EventSource, *projections: ProjectionLike) -> None:
        self.source = source
        self.projections = instantiate(projections)
        for projection in self.projections:
            type(projection).builds()
            source.registry.register(*type(projection).handler_table().event_types)
        self._builders: dict[type[Any], RecordBuilder[Any]] = {}

    def builder(self, record_type: type[R]) -> RecordBuilder[R]:
        found = self._builders.get(record_type)
        if found is None:
            found = self._builders[record_type] = builder_for(record_type, self.projections)
        return found

    @overload
    async def restore(
        self,
        record_type: type[R],
        stream_type: str,
        *,
        factory: Factory[R] | None = None,
        bad_rows: SkipBadRows | None = None,
    ) -> dict[str, R]: ...

    @overload
    async def restore(
        self,
        record_type: type[R],
        stream_type: str,
        stream_id: str,
        *,
        factory: Factory[R] | None = None,
        bad_rows: SkipBadRows | None = None,
    ) -> R | None: ...

    async def restore(
        self,
        record_type: type[R],
        stream_type: str,
        stream_id: str | None = None,
        *,
        factory: Factory[R] | None = None,
        bad_rows: SkipBadRows | None = None,
    ) -> dict[str, R] | R | None:
        """Records by stream id for a whole stream type, or the record of one stream (None if it has none).

        A record is created, with `factory(stream_id)` or else `record_type()`, at the first event a
        projection handles: streams whose events no projection handles get no record.

        Raises:
            UnreadableEventError: a stored row cannot be read, naming it; with a `bad_rows` policy
                its stream gets no record instead, and the row is reported to the policy.
            ServiceUnavailableError: the store could not be read; retry later.

        Example:
            >>> skipped = SkipBadRows()
            >>> records = await projector.restore(Summary, "Organization", bad_rows=skipped)
            >>> for row in skipped.skipped: print(row)
        """
        builder = self.builder(record_type)
        make = factory if factory is not None else builder.default_factory
        if stream_id is not None:
            try:
                events = await self.source.load(stream_type, stream_id)
            except Exception as error:
                load_failed(bad_rows, self.source, error, stream_type=stream_type, stream_id=stream_id)
                return None
            return builder.project(None, events, stream_id, make)
        records: dict[str, R] = {}
        streams = restoring(self._streams(stream_type, bad_rows), "restore", stream_type, record_type)
        await project_streams(builder, streams, records, make)
        return records

    async def restore_into(
        self,
        sink: RecordSink[R],
        record_type: type[R],
        stream_type: str,
        *,
        factory: Factory[R] | None = None,
        bad_rows: SkipBadRows | None = None,
        batch: int = DEFAULT_BATCH,
    ) -> int:
        """Restore every stream of a type straight into `sink`, `batch` records per upsert; returns how many.

        Unlike `restore`, no record is kept once written, so memory holds one batch of records (and
        the ids written), however large the read model: a stream arrives whole, so its record is final.

        Raises:
            UnreadableEventError: a stored row cannot be read, naming it; with a `bad_rows` policy
                its stream gets no record instead, and the row is reported to the policy. Batches
                written before the error stay written.
            ServiceUnavailableError: the store could not be read; retry later.

        Example:
            >>> async with SqliteSearchIndex(Summary, "summaries.db") as index:
            ...     count = await projector.restore_into(index, Summary, "Organization")
        """
        if batch < 1:
            raise ValueError(f"batch must be at least 1, got {batch}")
        builder = self.builder(record_type)
        make = factory if factory is not None else builder.default_factory
        project = builder.project
        pending: dict[str, R] = {}
        written: set[str] = set()
        async for stream in restoring(self._streams(stream_type, bad_rows), "restore", stream_type, record_type):
            stream_id = stream.stream_id
            before = pending.get(stream_id)
            if before is None and stream_id in written:
                before = await sink.get(stream_id)  # a source that splits a stream: continue its record
            record = project(before, stream.events, stream_id, make)
            if record is not None:
                pending[stream_id] = record
                if len(pending) >= batch:
                    await sink.upsert(pending)
                    written.update(pending)
                    pending = {}
        if pending:
            await sink.upsert(pending)
            written.update(pending)
        return len(written)

    async def reproject_into(
        self,
        store: RecordStore[R],
        record_type: type[R],
        stream_type: str,
        stream_ids: Iterable[str],
        *,
        factory: Factory[R] | None = None,
    ) -> Reprojected:
        """Replace the records of the named streams in `store` with ones projected from scratch.

        After `keyring.forget(subject)`, a record written before holds the subject's values in
        plaintext; this projects the subject's streams again from their (now erased) events, removes
        the records of streams that no longer load or no longer have one, and compacts a store that
        keeps replaced bytes (`SqliteSearchIndex`), so the store holds no trace of the values.
        See `messagehandler.projections.erasure` for which streams to name.

        Raises:
            UnreadableEventError: a stored row of a named stream cannot be read; nothing was written.
            ServiceUnavailableError: the store could not be read; retry later.

        Example:
            >>> await keyring.forget("p-1")
            >>> await projector.reproject_into(index, Card, "Patient", ["p-1"])
        """
        builder = self.builder(record_type)
        make = factory if factory is not None else builder.default_factory
        return await reproject_into(self.source, builder, store, stream_type, stream_ids, make)

    def _streams(self, stream_type: str, bad_rows: SkipBadRows | None) -> AsyncIterator[EventStream]:
        if bad_rows is None:
            return self.source.read_type(stream_type)
        return self.source.read_type(stream_type, bad_rows=bad_rows)

    def invoke(self, record: R, event: Event) -> R:
        """`record` after `event`: the real-time path (fetch the record, invoke, store it again)."""
        return self.builder(type(record)).invoke(record, event)


async def project_streams(
    builder: RecordBuilder[R], streams: AsyncIterable[EventStream], records: dict[str, R], factory: Factory[R]
) -> set[str]:
    """Project every stream into `records`, in place; returns the ids of the records created or changed."""
    changed: set[str] = set()
    project = builder.project
    async for stream in streams:
        stream_id = stream.stream_id
        before = records.get(stream_id)
        record = project(before, stream.events, stream_id, factory)
        if record is not None:
            records[stream_id] = record
            changed.add(stream_id)
    return changed
