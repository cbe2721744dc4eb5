"""Cache throughput: replicate 100,000 events from Azurite, read them back, compare with reading the store.

Writes N events (many organizations, one transaction per aggregate batch, several in flight), then
times in the same run: the store's `read_type` (bodies passed through, and typed), the replication
into a cache, and the cache read (raw events, and typed through a registry). Sizes: cache bytes on
disk per event against each event's JSON line (metadata and body, as `messagehandler events` prints).

The floor is what an application would write by hand to get the same typed payloads from the same
files: walk the segment files' pages, LZ4-decompress and MessagePack-decode each, and validate every
body into its event class with pydantic; no metadata, registry, upcasting or checksums.
`typed_floor_ratio` is the typed cache read's time over the floor's. The cache reads and the floor
alternate for R rounds after a warm-up of each; medians count. `decode_only_events_per_s` is the
floor without the validation, for scale.

Run: .venv/bin/python bench/cache.py [--events N] [--per-stream K] [--concurrency C] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import lz4.frame  # type: ignore[import-untyped]
import msgpack  # type: ignore[import-untyped]

from messagehandler import Event, EventTypeRegistry
from messagehandler.cache import CacheReader, CacheReplicator, PassThroughSerializer
from messagehandler.eventsource.azure_tables import AzureTableStorageEventSource
from messagehandler.testing import recorded
from messagehandler.testing.azurite import running_azurite
from samples.organization import OrganizationRegistered, OrganizationRenamed

TYPE = "Organization"
TABLE = "benchcache"
CLASSES: dict[str, type[Event]] = {c.__event_type__: c for c in (OrganizationRegistered, OrganizationRenamed)}
PAGE_HEADER_BYTES, SEGMENT_HEADER_BYTES = 24, 8


def batch(stream_id: str, count: int) -> list[Event]:
    events: list[Event] = [OrganizationRegistered(name=f"Organization {stream_id}", country="BE")]
    events += [OrganizationRenamed(name=f"Organization {stream_id} renamed {n}") for n in range(1, count)]
    return recorded(TYPE, stream_id, events, who="bench", correlation_id=f"corr-{stream_id}")


async def write(source: AzureTableStorageEventSource, streams: int, per_stream: int, concurrency: int) -> None:
    gate = asyncio.Semaphore(concurrency)

    async def one(index: int) -> None:
        async with gate:
            stream_id = f"org-{index:06d}"
            await source.append(TYPE, stream_id, 0, batch(stream_id, per_stream))

    await asyncio.gather(*(one(i) for i in range(streams)))


async def timed_read(source: AzureTableStorageEventSource) -> tuple[int, float]:
    start = time.perf_counter()
    count = 0
    async for stream in source.read_type(TYPE):
        count += len(stream.events)
    return count, time.perf_counter() - start


def cache_read(path: Path, registry: EventTypeRegistry | None) -> tuple[int, float]:
    start = time.perf_counter()
    reader = CacheReader(path)
    count = 0
    if registry is None:
        for _ in reader.events():
            count += 1
    else:
        for raw in reader.events():
            raw.content(registry)
            count += 1
    return count, time.perf_counter() - start


def floor_read(path: Path, *, validate: bool = True) -> tuple[int, float]:
    """The same files decoded by hand (format in docs/cache/format.md): decompress, unpack, validate."""
    start = time.perf_counter()
    count = 0
    manifest = json.loads((path / "manifest.json").read_bytes())
    for segment in manifest["segments"]:
        with open(path / segment["file"], "rb") as handle:
            handle.seek(SEGMENT_HEADER_BYTES)
            while head := handle.read(PAGE_HEADER_BYTES):
                length = int.from_bytes(head[4:8], "little")
                rows = msgpack.unpackb(lz4.frame.decompress(handle.read(length)), use_list=False, raw=False)
                if validate:
                    for row in rows:
                        CLASSES[row[4]].model_validate_json(row[14])
                count += len(rows)
    return count, time.perf_counter() - start


def cache_rounds(path: Path, registry: EventTypeRegistry, rounds: int) -> dict[str, float]:
    """Median seconds of each way to read the cache, rounds alternating after one warm-up of each."""
    ways = {
        "raw": lambda: cache_read(path, None),
        "typed": lambda: cache_read(path, registry),
        "floor": lambda: floor_read(path),
        "decode_only": lambda: floor_read(path, validate=False),
    }
    counts = {name: read()[0] for name, read in ways.items()}
    assert len(set(counts.values())) == 1, counts
    times: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(rounds):
        for name, read in ways.items():
            times[name].append(read()[1])
    print({name: [round(t, 3) for t in values] for name, values in times.items()}, file=sys.stderr)
    return {name: statistics.median(values) for name, values in times.items()}


async def bench(total: int, per_stream: int, concurrency: int, rounds: int) -> dict[str, Any]:
    registry = EventTypeRegistry([OrganizationRegistered, OrganizationRenamed])
    with running_azurite() as azurite, tempfile.TemporaryDirectory() as scratch:
        conn = azurite.connection_string
        typed = AzureTableStorageEventSource.from_connection_string(conn, TABLE, registry=registry)
        raw = AzureTableStorageEventSource.from_connection_string(conn, TABLE, serializer=PassThroughSerializer())
        try:
            start = time.perf_counter()
            await write(typed, total // per_stream, per_stream, concurrency)
            write_s = time.perf_counter() - start
            print(f"wrote {total:,} events in {write_s:.1f} s", file=sys.stderr)

            store_raw_n, store_raw_s = await timed_read(raw)
            store_typed_n, store_typed_s = await timed_read(typed)
            print(f"store read_type: {store_raw_s:.2f} s raw, {store_typed_s:.2f} s typed", file=sys.stderr)

            path = Path(scratch) / "cache"
            start = time.perf_counter()
            summary = await CacheReplicator(raw, path).replicate([TYPE])
            replicate_s = time.perf_counter() - start

            cache_n = sum(1 for _ in CacheReader(path).events())
            assert store_raw_n == store_typed_n == cache_n == summary.total_events == total
            medians = cache_rounds(path, registry, rounds)
            cache_s, cache_typed_s = medians["raw"], medians["typed"]
            on_disk = sum(f.stat().st_size for f in path.iterdir() if f.is_file())
            json_bytes = sum(len(e.to_json_line().encode()) for e in CacheReader(path).events())
            body_bytes = sum(len(e.body.encode()) for e in CacheReader(path).events())
        finally:
            await typed.table_client.delete_table()
            await typed.close()
            await raw.close()
    return {
        "events": total,
        "write_s": round(write_s, 2),
        "store_read_s": round(store_raw_s, 3),
        "store_typed_read_s": round(store_typed_s, 3),
        "replicate_s": round(replicate_s, 2),
        "replicate_events_per_s": round(total / replicate_s),
        "cache_read_s": round(cache_s, 3),
        "cache_events_per_s": round(total / cache_s),
        "cache_typed_events_per_s": round(total / cache_typed_s),
        "store_events_per_s": round(total / store_raw_s),
        "cache_speedup": round(store_raw_s / cache_s, 1),
        "cache_typed_speedup": round(store_typed_s / cache_typed_s, 1),
        "bytes_per_event": round(on_disk / total, 1),
        "json_bytes_per_event": round(json_bytes / total, 1),
        "body_json_bytes_per_event": round(body_bytes / total, 1),
        "floor_events_per_s": round(total / medians["floor"]),
        "decode_only_events_per_s": round(total / medians["decode_only"]),
        "typed_floor_ratio": round(cache_typed_s / medians["floor"], 2),
        "raw_floor_ratio": round(cache_s / medians["floor"], 2),
        "rounds": rounds,
        "goals": {"typed_floor_ratio": "<= 2.5"},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--per-stream", type=int, default=50, help="events per aggregate, written in one transaction")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds of the cache reads and the floor")
    args = parser.parse_args()
    result = asyncio.run(bench(args.events, args.per_stream, args.concurrency, args.rounds))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
