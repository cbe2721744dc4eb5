"""Raw events from either place the CLI reads: the store (through the protocol) or a cache directory.

Both yield `RawEvent`s: the store's events pass through `PassThroughSerializer` and are wrapped
with sequence number 0, so every command prints and measures the two the same way.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from messagehandler.cache.passthrough import body_of
from messagehandler.cache.raw import RawEvent, raw_from_event
from messagehandler.cache.reader import CacheReader
from messagehandler.cli.errors import CommandError
from messagehandler.events.event import Event
from messagehandler.events.serialization import JsonEventSerializer
from messagehandler.eventsource.bad_rows import SkipBadRows
from messagehandler.eventsource.keys import validate_stream
from messagehandler.eventsource.protocol import EventSource


def check_cached_type(reader: CacheReader, stream_type: str) -> None:
    if stream_type not in reader.manifest.positions:
        known = ", ".join(reader.stream_types) or "none"
        raise CommandError(f"stream type {stream_type!r} is not in the cache at {reader.path} (it holds: {known})")


async def check_stored_type(source: EventSource, stream_type: str) -> None:
    validate_stream(stream_type, "_")
    async for _ in source.stream_ids(stream_type):
        return
    raise CommandError(
        f"stream type {stream_type!r} has no streams in the store (stream types are case-sensitive; "
        "with sharded tables pass the writers' --shards)"
    )


def to_raw(source: EventSource, events: Sequence[Event]) -> list[RawEvent]:
    serializer = JsonEventSerializer(source.registry)
    return [raw_from_event(0, event, body_of(event, serializer)) for event in events]


async def stored_type(
    source: EventSource, stream_type: str, bad_rows: SkipBadRows | None = None
) -> AsyncIterator[RawEvent]:
    await check_stored_type(source, stream_type)
    async for stream in source.read_type(stream_type, bad_rows=bad_rows):
        for raw in to_raw(source, stream.events):
            yield raw


def cached_type(path: Path, stream_type: str) -> CacheReader:
    reader = CacheReader(path)
    check_cached_type(reader, stream_type)
    return reader
