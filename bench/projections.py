"""Projections: restore from Azurite against the raw client, and the in-memory projection rate.

Run: `.venv/bin/python bench/projections.py` (starts its own Azurite). The restore scenario stores
50,000 events (5,000 organizations of 10 events) in one partition, then alternates an SDK restore
(`Projector.restore`) with what an application without this SDK would do: scan the partition with
the azure-data-tables aio client, turn each body into its event class with pydantic, and set the
record's fields by hand. Medians of several runs are compared. The projection rate applies events
already in memory through `RecordBuilder.project`, the loop every restore and catch-up runs.

The cache restore scenario needs no Azurite: 100,000 events (10,000 organizations of 10) are
replicated from an in-memory store into a cache, then `Projector.restore` from a `CacheEventSource`
into a dict read model (records are dicts, `Projection[dict]`) alternates with the floor: the same
files decoded by hand (LZ4 frame, MessagePack), each body validated into its event class with
pydantic, and the same dict records updated by hand. `cache_restore_floor_ratio` is the median
restore time over the median floor time. Memory: Python's traced peak during each restore (the
floor, the dict restore, and the CLI's path into a SQLite index through `restore_into`), at 2,000 and
at 10,000 records; the growth per record between the two is reported.

The last line printed is one JSON object.
"""

from __future__ import annotations

import asyncio
import gc
import json
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import lz4.frame  # type: ignore[import-untyped]
import msgpack  # type: ignore[import-untyped]
from azure.data.tables.aio import TableClient
from pydantic import BaseModel

from messagehandler import Event, EventTypeRegistry, InMemoryEventSource
from messagehandler.cache import CacheEventSource, CacheReplicator, PassThroughSerializer
from messagehandler.eventsource.azure_tables import AzureTableStorageEventSource
from messagehandler.projections import Projection, Projector
from messagehandler.projections.projector import builder_for
from messagehandler.search import SqliteSearchIndex
from messagehandler.testing import recorded
from messagehandler.testing.azurite import running_azurite
from samples.organization import OrganizationRegistered, OrganizationRenamed

ORG = "Organization"
STREAMS, EVENTS_PER_STREAM, CONCURRENCY = 5_000, 10, 16
REPEATS = 5
PROJECTION_EVENTS = 500_000
CACHE_STREAMS, MEMORY_STREAMS = 10_000, 2_000
CLASSES: dict[str, type[Event]] = {c.__event_type__: c for c in (OrganizationRegistered, OrganizationRenamed)}


class Entry(BaseModel):
    name: str = ""
    country: str | None = None


class EntryProjection(Projection[Entry]):
    """Two fields set per event: the handler the speed goal is stated for."""

    def project_registered(self, record: Entry, event: OrganizationRegistered) -> None:
        record.name = event.name
        record.country = event.country

    def project_renamed(self, record: Entry, event: OrganizationRenamed) -> None:
        record.name = event.name
        record.country = "renamed"


class Slotted:
    __slots__ = ("country", "name")

    def __init__(self) -> None:
        self.name = ""
        self.country: str | None = None


class SlottedProjection(Projection[Slotted]):
    def project_registered(self, record: Slotted, event: OrganizationRegistered) -> None:
        record.name = event.name
        record.country = event.country

    def project_renamed(self, record: Slotted, event: OrganizationRenamed) -> None:
        record.name = event.name
        record.country = "renamed"


class DictProjection(Projection[dict]):  # type: ignore[type-arg]
    """The dict read model of the cache restore: the same two fields, records are plain dicts."""

    def project_registered(self, record: dict[str, Any], event: OrganizationRegistered) -> None:
        record["name"] = event.name
        record["country"] = event.country

    def project_renamed(self, record: dict[str, Any], event: OrganizationRenamed) -> None:
        record["name"] = event.name
        record["country"] = "renamed"


def history(stream_id: str) -> list[Event]:
    events: list[Event] = [OrganizationRegistered(name=f"{stream_id} inc.", country="BE")]
    events += [OrganizationRenamed(name=f"{stream_id} {v}") for v in range(2, EVENTS_PER_STREAM + 1)]
    return recorded(ORG, stream_id, events, who="bench", correlation_id="bench-run")


async def fill(source: AzureTableStorageEventSource) -> None:
    queue: asyncio.Queue[str] = asyncio.Queue()
    for i in range(STREAMS):
        queue.put_nowait(f"org{i:05d}")

    async def worker() -> None:
        while not queue.empty():
            stream_id = queue.get_nowait()
            await source.append(ORG, stream_id, 0, history(stream_id))

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))


async def raw_restore(client: TableClient) -> dict[str, dict[str, Any]]:
    records: dict[str, dict[str, Any]] = {}
    rows = client.query_entities("PartitionKey eq @pk", parameters={"pk": ORG}, results_per_page=1000)
    async for row in rows:
        event = CLASSES[row["EventType"]].model_validate_json(row["Body"])
        record = records.setdefault(row["SourceId"], {"name": "", "country": None})
        record["name"] = event.name  # type: ignore[attr-defined]
        record["country"] = getattr(event, "country", "renamed")
    return records


async def restore_ratio(connection_string: str) -> dict[str, float]:
    registry = EventTypeRegistry()
    registry.register(OrganizationRegistered, OrganizationRenamed)
    async with (
        AzureTableStorageEventSource.from_connection_string(
            connection_string, "BenchProjections", registry=registry
        ) as source,
        TableClient.from_connection_string(connection_string, "BenchProjections") as raw,
    ):
        started = time.perf_counter()
        await fill(source)
        print(f"stored {STREAMS * EVENTS_PER_STREAM} events in {time.perf_counter() - started:.1f}s", file=sys.stderr)
        projector = Projector(source, EntryProjection)
        sdk_times, raw_times = [], []
        for repeat in range(REPEATS):
            started = time.perf_counter()
            records = await projector.restore(Entry, ORG)
            sdk_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            raw_records = await raw_restore(raw)
            raw_times.append(time.perf_counter() - started)
            assert len(records) == len(raw_records) == STREAMS
            assert records["org00007"].model_dump() == raw_records["org00007"]
            print(f"  run {repeat}: sdk {sdk_times[-1]:.2f}s raw {raw_times[-1]:.2f}s", file=sys.stderr)
        sdk, raw_median = statistics.median(sdk_times), statistics.median(raw_times)
        return {
            "restore_events": STREAMS * EVENTS_PER_STREAM,
            "restore_sdk_s": round(sdk, 3),
            "restore_raw_s": round(raw_median, 3),
            "restore_time_ratio": round(sdk / raw_median, 3),
            "restore_events_per_s": round(STREAMS * EVENTS_PER_STREAM / sdk),
        }


def projection_rate(projection: type[Projection[Any]], record_type: type[Any]) -> float:
    builder = builder_for(record_type, [projection()])
    events: list[Event] = []
    for i in range(PROJECTION_EVENTS // EVENTS_PER_STREAM):
        events += history(f"org{i:05d}")
    streams = [events[i : i + EVENTS_PER_STREAM] for i in range(0, len(events), EVENTS_PER_STREAM)]
    best = 0.0
    for _ in range(5):
        started = time.perf_counter()
        for stream in streams:
            builder.project(None, stream, "x", builder.default_factory)
        best = max(best, len(events) / (time.perf_counter() - started))
    return best


async def cache_of(path: Path, streams: int) -> Path:
    source = InMemoryEventSource(serializer=PassThroughSerializer(), limits=None)
    for i in range(streams):
        stream_id = f"org{i:05d}"
        await source.append(ORG, stream_id, 0, history(stream_id))
    await CacheReplicator(source, path).replicate([ORG])
    return path


def floor_restore(path: Path) -> dict[str, dict[str, Any]]:
    """The cache files read by hand (docs/cache/format.md), page by page, into the same dict records."""
    records: dict[str, dict[str, Any]] = {}
    manifest = json.loads((path / "manifest.json").read_bytes())
    for segment in manifest["segments"]:
        with open(path / segment["file"], "rb") as handle:
            handle.seek(8)
            while head := handle.read(24):
                payload = handle.read(int.from_bytes(head[4:8], "little"))
                for row in msgpack.unpackb(lz4.frame.decompress(payload), use_list=False, raw=False):
                    event = CLASSES[row[4]].model_validate_json(row[14])
                    record = records.get(row[2])
                    if record is None:
                        record = records[row[2]] = {}
                    record["name"] = event.name  # type: ignore[attr-defined]
                    record["country"] = event.country if row[4] == "OrganizationRegistered" else "renamed"  # type: ignore[attr-defined]
    return records


def cache_source(path: Path) -> CacheEventSource:
    return CacheEventSource(path, EventTypeRegistry([OrganizationRegistered, OrganizationRenamed]))


async def dict_restore(path: Path) -> dict[str, dict[str, Any]]:
    return await Projector(cache_source(path), DictProjection).restore(dict, ORG)


async def sqlite_restore(path: Path, index_file: Path) -> int:
    async with SqliteSearchIndex(Entry, index_file) as index:
        return await Projector(cache_source(path), EntryProjection).restore_into(index, Entry, ORG)


def peak_bytes(work: Callable[[Path], Any], path: Path) -> int:
    gc.collect()
    tracemalloc.start()
    work(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def memory_growth(small: Path, large: Path, scratch: Path) -> dict[str, int]:
    """Traced peak bytes per extra record, from the small cache's restore to the large one's."""
    ways: dict[str, Callable[[Path], Any]] = {
        "floor_bytes_per_record": floor_restore,
        "cache_restore_bytes_per_record": lambda path: asyncio.run(dict_restore(path)),
        "cache_restore_sqlite_bytes_per_record": lambda path: asyncio.run(
            sqlite_restore(path, scratch / f"{path.name}-{time.monotonic_ns()}.db")
        ),
    }
    extra = (CACHE_STREAMS - MEMORY_STREAMS) * 1.0
    return {name: round((peak_bytes(way, large) - peak_bytes(way, small)) / extra) for name, way in ways.items()}


async def cache_restore_ratio() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as scratch:
        large = await cache_of(Path(scratch) / "large", CACHE_STREAMS)
        small = await cache_of(Path(scratch) / "small", MEMORY_STREAMS)
        assert await dict_restore(large) == floor_restore(large)  # and a warm-up of each
        assert await sqlite_restore(large, Path(scratch) / "warm-up.db") == CACHE_STREAMS
        ours, floor, sqlite = [], [], []
        for repeat in range(REPEATS):
            started = time.perf_counter()
            await dict_restore(large)
            ours.append(time.perf_counter() - started)
            started = time.perf_counter()
            floor_restore(large)
            floor.append(time.perf_counter() - started)
            started = time.perf_counter()
            await sqlite_restore(large, Path(scratch) / f"index-{repeat}.db")
            sqlite.append(time.perf_counter() - started)
            print(
                f"  cache run {repeat}: sdk {ours[-1]:.3f}s floor {floor[-1]:.3f}s sqlite {sqlite[-1]:.3f}s",
                file=sys.stderr,
            )
        memory = await asyncio.to_thread(memory_growth, small, large, Path(scratch))  # asyncio.run needs a thread
    events = CACHE_STREAMS * EVENTS_PER_STREAM
    sdk, floor_median = statistics.median(ours), statistics.median(floor)
    return {
        "cache_restore_events": events,
        "cache_restore_s": round(sdk, 3),
        "cache_restore_floor_s": round(floor_median, 3),
        "cache_restore_floor_ratio": round(sdk / floor_median, 2),
        "cache_restore_events_per_s": round(events / sdk),
        "cache_restore_sqlite_s": round(statistics.median(sqlite), 3),
        "cache_restore_sqlite_floor_ratio": round(statistics.median(sqlite) / floor_median, 2),
        **memory,
    }


async def main() -> None:
    figures: dict[str, Any] = {}
    figures["projection_events_per_s"] = round(projection_rate(EntryProjection, Entry))
    figures["projection_events_per_s_slotted_record"] = round(projection_rate(SlottedProjection, Slotted))
    print(f"projection rate: {figures}", file=sys.stderr)
    figures.update(await cache_restore_ratio())
    print(f"cache restore: {figures}", file=sys.stderr)
    with running_azurite() as azurite:
        figures.update(await restore_ratio(azurite.connection_string))
    figures["goals"] = {
        "restore_time_ratio": "<= 1.2",
        "projection_events_per_s": ">= 200000",
        "cache_restore_floor_ratio": "<= 2.5",
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    asyncio.run(main())
