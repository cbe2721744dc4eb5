"""Damaged caches: corruption and truncation are reported with file and offset, never read as events."""

from __future__ import annotations

import json
import shutil
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from messagehandler import EventSource, MessageHandlerError
from messagehandler.cache import (
    CacheCorruptError,
    CacheNotFoundError,
    CacheReader,
    CacheRepairError,
    CacheVersionError,
)
from messagehandler.cache.codec import decode, encode
from messagehandler.cache.format import PAGE_HEADER, SEGMENT_HEADER, page_bytes
from tests.cache.support import ORG, cached, fill, register, replicator

SEGMENT = "segment-00000001.mhc"


@pytest.fixture(autouse=True)
def _register(event_source: EventSource) -> None:
    register(event_source)


@pytest.fixture
async def cache(event_source: EventSource, tmp_path: Path) -> Path:
    """One segment of three 4-event pages: seqs 1-4, 5-8, 9-10."""
    await fill(event_source, {"a": 6, "b": 4})
    await replicator(event_source, tmp_path, page_events=4).replicate([ORG])
    return tmp_path


def page_offsets(path: Path) -> list[int]:
    data = (path / SEGMENT).read_bytes()
    offsets, offset = [], SEGMENT_HEADER.size
    while offset < len(data):
        offsets.append(offset)
        offset += PAGE_HEADER.size + struct.unpack_from("<I", data, offset + 4)[0]
    return offsets


def flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


async def test_a_flipped_byte_raises_naming_file_and_page_offset_after_the_good_pages(cache: Path) -> None:
    second = page_offsets(cache)[1]
    flip(cache / SEGMENT, second + PAGE_HEADER.size + 3)
    seen: list[int] = []

    with pytest.raises(CacheCorruptError) as caught:
        seen.extend(e.seq for e in CacheReader(cache).events())

    assert seen == [1, 2, 3, 4]
    assert caught.value.path == cache / SEGMENT
    assert caught.value.offset == second
    assert str(cache / SEGMENT) in str(caught.value)
    assert f"offset {second}" in str(caught.value)


def rewrite_page(path: Path, number: int, change: Callable[[list[Any]], list[Any]]) -> int:
    """Replace page `number` by a well-formed page (valid frame, valid checksum) holding `change(rows)`."""
    data = (path / SEGMENT).read_bytes()
    offsets = [*page_offsets(path), len(data)]
    start, end = offsets[number], offsets[number + 1]
    _, _, first_seq, count, _ = PAGE_HEADER.unpack_from(data, start)
    rows = list(decode(data[start + PAGE_HEADER.size : end]))
    page = page_bytes(first_seq, count, encode(change(rows)))
    (path / SEGMENT).write_bytes(data[:start] + page + data[end:])
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["segments"][0]["bytes"] = len(data) - (end - start) + len(page)
    (path / "manifest.json").write_text(json.dumps(manifest))
    return start


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda rows: [row[:14] for row in rows], id="rows of 14 fields"),
        pytest.param(lambda rows: [*rows[:-1], 7], id="a row that is not an array"),
        pytest.param(lambda rows: rows[:-1], id="fewer rows than the header says"),
        pytest.param(lambda rows: {"rows": rows}, id="a map instead of an array"),
    ],
)
async def test_a_well_formed_page_with_malformed_rows_is_reported_after_the_good_pages(
    cache: Path, change: Callable[[list[Any]], list[Any]]
) -> None:
    offset = rewrite_page(cache, 1, change)
    seen: list[int] = []

    with pytest.raises(CacheCorruptError) as caught:
        seen.extend(e.seq for e in CacheReader(cache).events())

    assert seen == [1, 2, 3, 4]
    assert (caught.value.path, caught.value.offset) == (cache / SEGMENT, offset)


async def test_a_damaged_page_header_is_reported(cache: Path) -> None:
    flip(cache / SEGMENT, page_offsets(cache)[2] + 8)

    with pytest.raises(CacheCorruptError):
        cached(cache)


async def test_a_truncated_segment_is_refused_before_any_event_of_it(cache: Path) -> None:
    data = (cache / SEGMENT).read_bytes()
    (cache / SEGMENT).write_bytes(data[:-10])

    with pytest.raises(CacheCorruptError, match="truncated") as caught:
        cached(cache)
    assert caught.value.offset == len(data) - 10


async def test_pages_before_the_start_are_skipped_without_reading_them(cache: Path) -> None:
    flip(cache / SEGMENT, page_offsets(cache)[0] + PAGE_HEADER.size + 3)

    assert [seq for seq, _, _ in cached(cache, start=4)] == [5, 6, 7, 8, 9, 10]


async def test_a_newer_format_version_is_refused_with_a_clear_message(cache: Path) -> None:
    manifest = json.loads((cache / "manifest.json").read_text())
    manifest["format_version"] = 99
    (cache / "manifest.json").write_text(json.dumps(manifest))

    with pytest.raises(CacheVersionError, match=r"format version 99.*upgrade messagehandler"):
        CacheReader(cache)


async def test_a_segment_of_a_newer_format_version_is_refused(cache: Path) -> None:
    data = bytearray((cache / SEGMENT).read_bytes())
    data[6:8] = (2).to_bytes(2, "little")
    (cache / SEGMENT).write_bytes(bytes(data))

    with pytest.raises(CacheVersionError, match="version 2"):
        cached(cache)


@pytest.mark.parametrize("garbage", ["{not json", "[" * 100_000], ids=["not-json", "nested-too-deep"])
async def test_a_garbled_manifest_is_a_corrupt_cache(cache: Path, garbage: str) -> None:
    (cache / "manifest.json").write_text(garbage)

    with pytest.raises(CacheCorruptError, match=r"manifest\.json"):
        CacheReader(cache)


def test_a_directory_without_a_cache_is_reported(tmp_path: Path) -> None:
    with pytest.raises(CacheNotFoundError, match=r"no manifest\.json"):
        CacheReader(tmp_path)
    with pytest.raises(MessageHandlerError, match="not a directory"):
        CacheReader(tmp_path / "missing")


async def test_repair_refetches_damaged_pages_and_restores_the_same_events(
    cache: Path, event_source: EventSource
) -> None:
    before = [tuple(e) for e in CacheReader(cache).events()]
    offsets = page_offsets(cache)
    flip(cache / SEGMENT, offsets[1] + PAGE_HEADER.size + 3)
    flip(cache / SEGMENT, offsets[2] + PAGE_HEADER.size + 1)
    reported: list[tuple[Path, int]] = []

    repaired = await replicator(event_source, cache).repair(
        on_page=lambda path, offset: reported.append((path, offset))
    )

    assert repaired == 2
    assert reported == [(cache / SEGMENT, offsets[1]), (cache / SEGMENT, offsets[2])]
    assert [tuple(e) for e in CacheReader(cache).events()] == before
    assert await replicator(event_source, cache).repair() == 0


async def test_repair_rebuilds_a_truncated_segment(cache: Path, event_source: EventSource) -> None:
    before = [tuple(e) for e in CacheReader(cache).events()]
    data = (cache / SEGMENT).read_bytes()
    (cache / SEGMENT).write_bytes(data[: page_offsets(cache)[2] + 5])

    assert await replicator(event_source, cache).repair() == 1
    assert [tuple(e) for e in CacheReader(cache).events()] == before


async def test_repair_without_a_readable_page_index_asks_for_a_fresh_replication(
    cache: Path, event_source: EventSource
) -> None:
    flip(cache / "segment-00000001.mhi", 5)

    with pytest.raises(CacheRepairError, match="replicate again"):
        await replicator(event_source, cache).repair()


async def test_repair_trims_a_segment_longer_than_committed(cache: Path, event_source: EventSource) -> None:
    before = [tuple(e) for e in CacheReader(cache).events()]
    (cache / SEGMENT).write_bytes((cache / SEGMENT).read_bytes() + b"torn")
    with pytest.raises(CacheCorruptError, match="longer than committed"):
        list(CacheReader(cache).events())

    await replicator(event_source, cache).repair()

    assert [tuple(e) for e in CacheReader(cache).events()] == before


def _read_everything(path: Path) -> list[tuple[Any, ...]]:
    """Every event and every page index: what the readers (`CacheReader`, `CacheEventSource`) rely on."""
    reader = CacheReader(path)
    for info in reader.segments:
        reader.page_index(info)
    return [tuple(e) for e in reader.events()]


def _edit_manifest(path: Path, change: Callable[[dict[str, Any]], object]) -> None:
    manifest = json.loads((path / "manifest.json").read_text())
    change(manifest)
    (path / "manifest.json").write_text(json.dumps(manifest))


INDEX = "segment-00000001.mhi"

DAMAGE: dict[str, tuple[Callable[[Path], object], bool]] = {
    "a flipped page byte": (lambda p: flip(p / SEGMENT, page_offsets(p)[1] + PAGE_HEADER.size + 3), True),
    "a damaged page header": (lambda p: flip(p / SEGMENT, page_offsets(p)[2] + 8), True),
    "a bad segment magic": (lambda p: flip(p / SEGMENT, 0), True),
    "a truncated segment": (lambda p: (p / SEGMENT).write_bytes((p / SEGMENT).read_bytes()[:-10]), True),
    "a segment longer than committed": (lambda p: (p / SEGMENT).write_bytes((p / SEGMENT).read_bytes() + b"x"), True),
    "a missing segment": (lambda p: (p / SEGMENT).unlink(), True),
    "a garbled manifest": (lambda p: (p / "manifest.json").write_text("{not json"), False),
    "a manifest of another format": (lambda p: _edit_manifest(p, lambda m: m.update(format="other")), False),
    "a manifest field malformed": (lambda p: _edit_manifest(p, lambda m: m.update(segments=[{"number": 1}])), False),
    "a flipped page index byte": (lambda p: flip(p / INDEX, 5), False),
    "a truncated page index": (lambda p: (p / INDEX).write_bytes((p / INDEX).read_bytes()[:-3]), False),
    "a missing page index": (lambda p: (p / INDEX).unlink(), False),
}


@pytest.mark.parametrize("damage", DAMAGE)
async def test_each_damage_advises_what_fixes_it_and_the_advice_works(
    cache: Path, event_source: EventSource, damage: str
) -> None:
    before = _read_everything(cache)
    harm, repairable = DAMAGE[damage]
    harm(cache)

    with pytest.raises(CacheCorruptError) as caught:
        _read_everything(cache)

    error = caught.value
    assert error.repairable is repairable
    assert ("messagehandler replicate --repair" in str(error)) is repairable
    if repairable:
        await replicator(event_source, cache).repair()
        await replicator(event_source, cache).replicate([ORG])  # what `replicate --repair` runs after repairing
    else:
        assert f"delete the cache directory {cache} and run `messagehandler replicate`" in str(error)
        with pytest.raises((CacheRepairError, CacheCorruptError)):
            await replicator(event_source, cache).repair()  # repair cannot, as the message says
        shutil.rmtree(cache)
        await replicator(event_source, cache).replicate([ORG])
    assert _read_everything(cache) == before
