"""`CacheReplicator`: copy stream types from an event source into a cache directory, resumably.

"New" events are found with `messagehandler.eventsource.positions.catch_up`: the manifest keeps, per
stream type, the version replicated of every stream plus a high-water mark of the store's commit
times. A run re-reads from `high_water - margin`, skips versions already cached and fills gaps from
the streams themselves, so nothing is missed and nothing is cached twice without a global sequence.

Progress is committed at stream boundaries whenever a segment fills up: segment and index are made
durable, then the manifest is replaced atomically. A checkpoint taken in the middle of a pass keeps
the high-water mark the pass started from, because streams are read in key order, not time order:
an unread stream may hold events older than the ones already read. After a crash, the next run
deletes uncommitted files and resumes from the last checkpoint.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from os import PathLike
from pathlib import Path

from messagehandler.cache.directory import DEFAULT_PAGE_BYTES, DEFAULT_PAGE_EVENTS, CacheDirectory
from messagehandler.cache.errors import CacheFileError, CacheNotFoundError
from messagehandler.cache.format import MANIFEST, Manifest
from messagehandler.cache.lock import writer_lock
from messagehandler.cache.passthrough import body_of
from messagehandler.cache.raw import raw_from_event
from messagehandler.cache.repair import repair_cache
from messagehandler.cache.segments import SegmentWriter
from messagehandler.events.serialization import EventSerializer, JsonEventSerializer
from messagehandler.eventsource.bad_rows import SkipBadRows
from messagehandler.eventsource.keys import validate_stream
from messagehandler.eventsource.positions import DEFAULT_MARGIN, TypePosition, catch_up
from messagehandler.eventsource.protocol import EventSource
from messagehandler.files import file_errors, is_temporary
from messagehandler.telemetry.rebuilds import replicating

DEFAULT_SEGMENT_BYTES = 64 << 20


@dataclass
class ReplicationProgress:
    """Running totals of one run, passed to the progress callback after every stream."""

    stream_type: str = ""
    events: int = 0
    streams: int = 0
    bytes_written: int = 0


@dataclass
class ReplicationSummary:
    events: dict[str, int] = field(default_factory=dict)
    streams: dict[str, int] = field(default_factory=dict)
    first_seq: int = 0
    last_seq: int = 0
    segments_written: int = 0
    bytes_written: int = 0
    seconds: float = 0.0

    @property
    def total_events(self) -> int:
        return sum(self.events.values())


ProgressCallback = Callable[[ReplicationProgress], None]


class CacheReplicator:
    """Copies every stream of the given types from `source` into the cache at `path`.

    Give the source a `PassThroughSerializer` to cache bodies byte for byte without knowing the event
    classes; with any other serializer the events are re-serialised with it. `margin` must exceed the
    store's commit latency plus clock skew between its partition servers (see `positions`).
    """

    def __init__(
        self,
        source: EventSource,
        path: str | PathLike[str],
        *,
        margin: timedelta = DEFAULT_MARGIN,
        page_events: int = DEFAULT_PAGE_EVENTS,
        page_bytes: int = DEFAULT_PAGE_BYTES,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        serializer: EventSerializer | None = None,
    ) -> None:
        if page_events < 1 or page_bytes < 1 or segment_bytes < 1:
            raise ValueError("page_events, page_bytes and segment_bytes must be positive")
        self.source = source
        self.path = Path(path)
        self.margin = margin
        self.directory = CacheDirectory(self.path, page_events, page_bytes)
        self.segment_bytes = segment_bytes
        self._serializer = serializer if serializer is not None else JsonEventSerializer(source.registry)

    async def replicate(
        self,
        stream_types: Sequence[str],
        *,
        on_progress: ProgressCallback | None = None,
        bad_rows: SkipBadRows | None = None,
    ) -> ReplicationSummary:
        """Add every event not yet cached; safe to interrupt at any point and run again.

        A stored row that cannot be read stops the run with `UnreadableEventError`, naming it; with a
        `bad_rows` policy the rest of its stream is left out and the row reported to the policy (a
        later event of that stream makes a run read it, and report it, again).

        Raises:
            UnreadableEventError: a stored row cannot be read and no `bad_rows` policy was given.
            CacheFileError: a cache file or the directory cannot be read or written (names the path;
                the remedy says whether to fix the configuration or retry later).
            CacheCorruptError: the manifest is damaged (the message says what to do).
            CacheLockedError: another replicator writes to the same directory.
        """
        for stream_type in stream_types:
            validate_stream(stream_type, "_")
        with file_errors("create cache directory", self.path, CacheFileError):
            self.path.mkdir(parents=True, exist_ok=True)
        with writer_lock(self.path):
            run = _Run(self, self._open_manifest(), on_progress, bad_rows)
            try:
                for stream_type in dict.fromkeys(stream_types):
                    await run.replicate_type(stream_type)
                await run.commit(None)
            finally:
                run.abort()
            return run.summary

    async def repair(self, *, on_page: Callable[[Path, int], None] | None = None) -> int:
        """Re-fetch from the store every cached page that fails its checks; returns how many were rebuilt.

        Raises:
            CacheRepairError: a page cannot be rebuilt (its page index is damaged, or the store lost its events).
            CacheCorruptError: the manifest is damaged, which repair cannot fix.
            CacheFileError: a cache file cannot be read or written.
        """
        with writer_lock(self.path):
            manifest = Manifest.load(self.path)
            return await repair_cache(self.directory, self.source, self._serializer, manifest, on_page)

    def _open_manifest(self) -> Manifest:
        try:
            manifest = Manifest.load(self.path)
        except CacheNotFoundError:
            manifest = Manifest()
        self._remove_uncommitted(manifest)
        return manifest

    def _remove_uncommitted(self, manifest: Manifest) -> None:
        committed = {MANIFEST} | {s.file for s in manifest.segments} | {s.index_file for s in manifest.segments}
        with file_errors("remove uncommitted files from", self.path, CacheFileError):
            for entry in self.path.iterdir():
                name = entry.name
                stray = is_temporary(name) or (name.startswith("segment-") and name not in committed)
                if stray and entry.is_file():
                    entry.unlink()

    def serializer(self) -> EventSerializer:
        return self._serializer


class _Run:
    """State of one `replicate` call: the open segment, the positions committed so far, the totals."""

    def __init__(
        self,
        owner: CacheReplicator,
        manifest: Manifest,
        on_progress: ProgressCallback | None,
        bad_rows: SkipBadRows | None,
    ) -> None:
        self.owner = owner
        self.bad_rows = bad_rows
        self.manifest = manifest
        self.on_progress = on_progress
        self.writer: SegmentWriter | None = None
        self.next_seq = manifest.last_seq + 1
        self.summary = ReplicationSummary(first_seq=self.next_seq)
        self.progress = ReplicationProgress()
        self.started = time.perf_counter()

    async def replicate_type(self, stream_type: str) -> None:
        committed = self.manifest.positions.get(stream_type)
        position = TypePosition.from_json(committed.to_json()) if committed else TypePosition()
        pass_start = position.high_water
        serializer = self.owner.serializer()
        self.summary.events.setdefault(stream_type, 0)
        self.summary.streams.setdefault(stream_type, 0)
        self.progress.stream_type = stream_type
        feed = replicating(
            catch_up(self.owner.source, stream_type, position, margin=self.owner.margin, bad_rows=self.bad_rows),
            stream_type,
        )
        async for stream in feed:
            writer = self._writer()
            for event in stream.events:
                writer.add(raw_from_event(self.next_seq, event, body_of(event, serializer)))
                self.next_seq += 1
            count = len(stream.events)
            self.manifest.counts[stream_type] = self.manifest.counts.get(stream_type, 0) + count
            self.summary.events[stream_type] += count
            self.summary.streams[stream_type] += 1
            self.progress.events += count
            self.progress.streams += 1
            if writer.size >= self.owner.segment_bytes:
                await self.commit(TypePosition(dict(position.versions), pass_start), stream_type)
            if self.on_progress is not None:
                self.progress.bytes_written = self.summary.bytes_written + (self.writer.size if self.writer else 0)
                self.on_progress(self.progress)
        self.manifest.positions[stream_type] = position

    def _writer(self) -> SegmentWriter:
        if self.writer is None:
            self.writer = self.owner.directory.new_writer(self.manifest.next_segment)
        return self.writer

    async def commit(self, position: TypePosition | None, stream_type: str | None = None) -> None:
        """Make the open segment and the positions durable; `position` is the checkpoint of a pass in progress."""
        writer, self.writer = self.writer, None
        if writer is not None:
            if writer.events:
                info = await asyncio.to_thread(writer.finish)
                self.manifest.segments.append(info)
                self.summary.segments_written += 1
                self.summary.bytes_written += info.size + info.index_size
            else:
                writer.abort()
        manifest = self.manifest
        if position is not None and stream_type is not None:
            manifest = Manifest(manifest.segments, {**manifest.positions, stream_type: position}, manifest.counts)
        await asyncio.to_thread(self.owner.directory.commit_manifest, manifest)
        self.summary.last_seq = self.manifest.last_seq
        self.summary.seconds = time.perf_counter() - self.started

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.abort()
            self.writer = None
