"""Rebuilding damaged pages from the store: the page index says which stream versions each page held.

Intact pages are copied byte for byte into a new segment file; each damaged page is rebuilt from
`EventSource.load` with its original sequence numbers, so readers see the same cache as before the
damage. The rebuilt segment replaces the old one by rename, then the manifest records its new size.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from messagehandler.cache.directory import CacheDirectory
from messagehandler.cache.errors import CacheCorruptError, CacheFileError, CacheRepairError
from messagehandler.cache.format import SEGMENT_HEADER, Manifest, SegmentInfo, check_segment_header
from messagehandler.cache.passthrough import body_of
from messagehandler.cache.raw import RawEvent, raw_from_event
from messagehandler.cache.segments import PageEntry, encode_page, read_index, read_page_rows
from messagehandler.events.serialization import EventSerializer
from messagehandler.eventsource.protocol import EventSource
from messagehandler.files import file_errors


def _damaged_pages(path: Path, entries: list[PageEntry]) -> tuple[set[int], dict[int, bytes]]:
    """Indexes of pages that fail any check, and the verbatim bytes of those that pass."""
    damaged: set[int] = set()
    intact: dict[int, bytes] = {}
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        return set(range(len(entries))), intact
    except OSError as error:
        raise CacheFileError("read segment", path, error) from error
    with handle, file_errors("read segment", path, CacheFileError):
        size = handle.seek(0, 2)
        handle.seek(0)
        try:
            check_segment_header(path, handle.read(SEGMENT_HEADER.size))
        except CacheCorruptError:
            return set(range(len(entries))), intact
        for number, entry in enumerate(entries):
            try:
                header, _ = read_page_rows(path, handle, entry.offset, size)
            except CacheCorruptError:
                damaged.add(number)
                continue
            if (header.first_seq, header.count, header.length) != (entry.first_seq, entry.count, entry.length):
                damaged.add(number)
                continue
            handle.seek(entry.offset)
            intact[number] = handle.read(header.end - header.offset)
    return damaged, intact


def _size_of(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return None
    except OSError as error:
        raise CacheFileError("read segment", path, error) from error


async def _refetch(source: EventSource, serializer: EventSerializer, path: Path, entry: PageEntry) -> list[RawEvent]:
    rows: list[RawEvent] = []
    for stream_type, stream_id, first, last, first_seq in entry.runs:
        events = (await source.load(stream_type, stream_id, from_version=first))[: last - first + 1]
        if [e.metadata.version for e in events] != list(range(first, last + 1)):
            raise CacheRepairError(
                f"cannot rebuild the page at offset {entry.offset} of {path}: the store no longer holds "
                f"versions {first}..{last} of {stream_type}/{stream_id}"
            )
        rows.extend(raw_from_event(first_seq + i, e, body_of(e, serializer)) for i, e in enumerate(events))
    if [r.seq for r in rows] != list(range(entry.first_seq, entry.first_seq + entry.count)):
        raise CacheRepairError(f"the page index of {path} does not account for every event of page {entry.offset}")
    return rows


async def _rebuild(
    directory: CacheDirectory,
    refetch: Callable[[Path, PageEntry], Awaitable[list[RawEvent]]],
    info: SegmentInfo,
    entries: list[PageEntry],
    damaged: set[int],
    intact: dict[int, bytes],
) -> SegmentInfo:
    path = directory.path / info.file
    writer = directory.new_writer(info.number)
    try:
        for number, entry in enumerate(entries):
            if number in damaged:
                data, runs = encode_page(await refetch(path, entry))
                writer.write_page(data, entry.first_seq, entry.count, runs)
            else:
                writer.write_page(intact[number], entry.first_seq, entry.count, entry.runs)
        return await asyncio.to_thread(writer.finish)
    except BaseException:
        writer.abort()
        raise


async def repair_cache(
    directory: CacheDirectory,
    source: EventSource,
    serializer: EventSerializer,
    manifest: Manifest,
    on_page: Callable[[Path, int], None] | None,
) -> int:
    """Rebuild every damaged page of the cache in `directory` from `source`; returns how many were rebuilt."""

    async def refetch(path: Path, entry: PageEntry) -> list[RawEvent]:
        return await _refetch(source, serializer, path, entry)

    repaired = 0
    for position, info in enumerate(manifest.segments):
        path = directory.path / info.file
        try:
            entries = read_index(directory.path, info)
        except CacheCorruptError as error:
            raise CacheRepairError(
                f"cannot repair {path}: its page index is damaged too ({error.reason}); delete the cache "
                "directory and replicate again"
            ) from error
        damaged, intact = await asyncio.to_thread(_damaged_pages, path, entries)
        if not damaged and await asyncio.to_thread(_size_of, path) == info.size:
            continue
        if on_page is not None:
            for number in sorted(damaged):
                on_page(path, entries[number].offset)
        manifest.segments[position] = await _rebuild(directory, refetch, info, entries, damaged, intact)
        directory.commit_manifest(manifest)
        repaired += len(damaged)
    return repaired
