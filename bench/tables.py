"""AzureTableStorageEventSource against the raw azure-data-tables aio client doing the same requests by hand.

Run: `.venv/bin/python bench/tables.py` (starts its own Azurite). Each scenario runs once per side as
a warm-up, then alternates SDK and raw runs several times and compares medians, so drift of the
emulator affects both sides alike. The raw side does what an application without this SDK would:
serialise the payload with pydantic, build the row, send one transaction per aggregate; read rows with
`query_entities` (the same filter, parameters and select) and validate each body into its event class.

`append_existing` appends one event to a stream of 10 that a repository has loaded (the command and
`flush()` are timed), against one raw `submit_transaction` creating the same row. Within a round the
two sides alternate append by append (one append takes about 4 ms, and a busy machine drifts more than
that between whole rounds); the round's streams are loaded before its appends, because on Azurite a
write right after a read answers about 0.5 ms later, for raw clients as for this one.
`requests_per_append_existing` counts the requests those flushes sent (the SDK's request hook), per
append. The last line printed is one JSON object.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from azure.data.tables.aio import TableClient, TableServiceClient

from messagehandler import AggregateRepository, Event, EventTypeRegistry
from messagehandler.eventsource.azure_tables import AzureTableStorageEventSource
from messagehandler.testing import RequestLog, recorded
from messagehandler.testing.azurite import running_azurite
from samples.organization import Organization, OrganizationRegistered, OrganizationRenamed

ORG = "Organization"
APPEND_AGGREGATES, APPEND_EVENTS, APPEND_CONCURRENCY = 200, 10, 8
LOAD_EVENTS = 1_000
READ_STREAMS, READ_EVENTS_PER_STREAM = 2_000, 10
EXISTING_STREAMS = 200
REPEATS = {"append": 5, "append_existing": 7, "load": 15, "read_type": 5}
CLASSES: dict[str, type[Event]] = {c.__event_type__: c for c in (OrganizationRegistered, OrganizationRenamed)}


def history(stream_id: str, count: int, start_version: int = 1) -> list[Event]:
    events: list[Event] = [OrganizationRegistered(name=f"{stream_id} inc.", country="BE")] if start_version == 1 else []
    while len(events) < count:
        events.append(OrganizationRenamed(name=f"{stream_id} {start_version + len(events)}"))
    return recorded(ORG, stream_id, events, start_version=start_version, who="bench", correlation_id="bench-run")


def raw_row(event: Event) -> dict[str, Any]:
    meta = event.metadata
    row: dict[str, Any] = {
        "PartitionKey": meta.source_type,
        "RowKey": f"{meta.source_id}_{meta.version:010d}",
        "Body": event.model_dump_json(),
        "EventType": meta.event_type,
        "SourceId": meta.source_id,
        "SourceType": meta.source_type,
        "Version": meta.version,
        "EventId": meta.event_id,
        "When": meta.when,
        "SchemaVersion": meta.schema_version,
    }
    if meta.who is not None:
        row["Who"] = meta.who
    if meta.correlation_id is not None:
        row["CorrelationId"] = meta.correlation_id
    return row


async def bounded(concurrency: int, jobs: list[Callable[[], Awaitable[None]]]) -> None:
    queue = list(reversed(jobs))

    async def worker() -> None:
        while queue:
            await queue.pop()()

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def timed(run: Callable[[], Awaitable[None]]) -> float:
    start = time.perf_counter()
    await run()
    return time.perf_counter() - start


async def compare(
    name: str, sdk: Callable[[int], Awaitable[None]], raw: Callable[[int], Awaitable[None]]
) -> tuple[float, float]:
    sdk_times: list[float] = []
    raw_times: list[float] = []
    await sdk(-1)  # warm-up: connections, caches, the emulator's first-time costs
    await raw(-1)
    for repeat in range(REPEATS[name]):
        order = [(sdk, sdk_times), (raw, raw_times)]
        if repeat % 2:
            order.reverse()
        for run, times in order:
            times.append(await timed(lambda run=run, repeat=repeat: run(repeat)))  # type: ignore[misc]
    return statistics.median(sdk_times), statistics.median(raw_times)


async def main() -> None:
    registry = EventTypeRegistry(CLASSES.values())
    with running_azurite() as azurite:
        conn = azurite.connection_string
        async with TableServiceClient.from_connection_string(conn) as service:
            for table in ("benchappend", "benchload", "benchread"):
                await service.create_table(table)
            await service.create_table("benchexisting")
        requests = RequestLog()
        sources = {
            table: AzureTableStorageEventSource.from_connection_string(conn, table, registry=registry)
            for table in ("benchappend", "benchload", "benchread")
        }
        sources["benchexisting"] = AzureTableStorageEventSource.from_connection_string(
            conn, "benchexisting", registry=registry, raw_request_hook=requests
        )
        raws = {table: TableClient.from_connection_string(conn, table) for table in sources}
        try:
            results = await run_scenarios(sources, raws, requests)
        finally:
            for source in sources.values():
                await source.close()
            for raw in raws.values():
                await raw.close()
    report(results)


async def run_scenarios(
    sources: dict[str, AzureTableStorageEventSource], raws: dict[str, TableClient], requests: RequestLog
) -> dict[str, tuple[float, float, int]]:
    results: dict[str, tuple[float, float, int]] = {}

    # (a) append: 200 aggregates x 10 events, 8 at a time, one transaction per aggregate
    source, raw = sources["benchappend"], raws["benchappend"]
    batches: dict[tuple[str, int], list[list[Event]]] = {}
    for side in ("sdk", "raw"):
        for repeat in range(-1, REPEATS["append"]):
            batches[side, repeat] = [history(f"{side}{repeat}-{n}", APPEND_EVENTS) for n in range(APPEND_AGGREGATES)]

    async def append_sdk(repeat: int) -> None:
        await bounded(
            APPEND_CONCURRENCY,
            [lambda e=events: source.append(ORG, e[0].metadata.source_id, 0, e) for events in batches["sdk", repeat]],
        )

    async def append_raw(repeat: int) -> None:
        async def one(events: list[Event]) -> None:
            await raw.submit_transaction([("create", raw_row(event)) for event in events])

        await bounded(APPEND_CONCURRENCY, [lambda e=events: one(e) for events in batches["raw", repeat]])

    sdk_time, raw_time = await compare("append", append_sdk, append_raw)
    results["append"] = (sdk_time, raw_time, APPEND_AGGREGATES * APPEND_EVENTS)

    # (a') append one event to a stream of 10 that the unit of work loaded, one stream after another
    source, raw = sources["benchexisting"], raws["benchexisting"]
    rounds = range(-1, REPEATS["append_existing"])
    streams = [f"{side}{repeat}-{n}" for side in ("sdk", "raw") for repeat in rounds for n in range(EXISTING_STREAMS)]
    await bounded(
        APPEND_CONCURRENCY, [lambda s=stream_id: source.append(ORG, s, 0, history(s, 10)) for stream_id in streams]
    )
    appended_requests: list[int] = []

    async def append_existing_round(repeat: int) -> tuple[float, float]:
        """One round: every stream appended to once by each side, the sides alternating append by append."""
        loaded = []
        for n in range(EXISTING_STREAMS):  # loaded first: a read just before a write slows Azurite's answer
            repository = AggregateRepository(source)
            loaded.append((repository, await repository.get(Organization, f"sdk{repeat}-{n}")))
        sdk_time = raw_time = 0.0
        for n, (repository, org) in enumerate(loaded):
            for side in ("sdk", "raw") if n % 2 == 0 else ("raw", "sdk"):
                if side == "sdk":
                    sent = requests.count
                    start = time.perf_counter()
                    org.rename(f"renamed {n}")
                    await repository.flush()
                    sdk_time += time.perf_counter() - start
                    appended_requests.append(requests.count - sent)
                else:
                    start = time.perf_counter()
                    (event,) = recorded(
                        ORG, f"raw{repeat}-{n}", [OrganizationRenamed(name=f"renamed {n}")], start_version=11
                    )
                    await raw.submit_transaction([("create", raw_row(event))])
                    raw_time += time.perf_counter() - start
        return sdk_time, raw_time

    await append_existing_round(-1)  # warm-up
    appended_requests.clear()
    rounds_timed = [await append_existing_round(repeat) for repeat in range(REPEATS["append_existing"])]
    sdk_time = statistics.median(t for t, _ in rounds_timed)
    raw_time = statistics.median(t for _, t in rounds_timed)
    results["append_existing"] = (sdk_time, raw_time, EXISTING_STREAMS)
    results["requests_per_append_existing"] = (sum(appended_requests) / len(appended_requests), 0.0, 0)

    # (b) load one aggregate of 1,000 events
    source, raw = sources["benchload"], raws["benchload"]
    for start in range(1, LOAD_EVENTS + 1, 100):
        await source.append(ORG, "big", start - 1, history("big", 100, start_version=start))

    async def load_sdk(_: int) -> None:
        assert len(await source.load(ORG, "big")) == LOAD_EVENTS

    async def load_raw(_: int) -> None:
        rows = raw.query_entities(
            "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
            parameters={"pk": ORG, "lo": "big_0000000001", "hi": "big_:"},
            results_per_page=1000,
        )
        events = [CLASSES[row["EventType"]].model_validate_json(row["Body"]) async for row in rows]
        assert len(events) == LOAD_EVENTS

    sdk_time, raw_time = await compare("load", load_sdk, load_raw)
    results["load"] = (sdk_time, raw_time, LOAD_EVENTS)

    # (c) read all streams of a type holding 20,000 events
    source, raw = sources["benchread"], raws["benchread"]
    await bounded(
        APPEND_CONCURRENCY,
        [
            lambda n=n: source.append(ORG, f"org-{n:05d}", 0, history(f"org-{n:05d}", READ_EVENTS_PER_STREAM))
            for n in range(READ_STREAMS)
        ],
    )
    total = READ_STREAMS * READ_EVENTS_PER_STREAM

    async def read_sdk(_: int) -> None:
        count = 0
        async for stream in source.read_type(ORG):
            count += len(stream.events)
        assert count == total

    async def read_raw(_: int) -> None:
        streams: dict[str, list[Event]] = {}
        pages = raw.query_entities("PartitionKey eq @pk", parameters={"pk": ORG}, results_per_page=1000).by_page()
        async for page in pages:
            async for row in page:
                event = CLASSES[row["EventType"]].model_validate_json(row["Body"])
                streams.setdefault(row["SourceId"], []).append(event)
        assert sum(map(len, streams.values())) == total

    sdk_time, raw_time = await compare("read_type", read_sdk, read_raw)
    results["read_type"] = (sdk_time, raw_time, total)
    return results


def report(results: dict[str, tuple[float, float, int]]) -> None:
    print(f"{'scenario':<12}{'events':>8}{'SDK s':>10}{'raw s':>10}{'SDK ev/s':>12}{'raw ev/s':>12}{'ratio':>8}")
    summary: dict[str, Any] = {}
    per_append = results.pop("requests_per_append_existing")[0]
    for name, (sdk_time, raw_time, events) in results.items():
        ratio = sdk_time / raw_time
        print(
            f"{name:<12}{events:>8}{sdk_time:>10.3f}{raw_time:>10.3f}"
            f"{events / sdk_time:>12,.0f}{events / raw_time:>12,.0f}{ratio:>8.3f}"
        )
        summary[f"{name}_events_per_s"] = round(events / sdk_time)
        summary[f"{name}_raw_events_per_s"] = round(events / raw_time)
        summary[f"{name}_time_ratio"] = round(ratio, 3)
    summary["requests_per_append_existing"] = round(per_append, 3)
    print(f"requests per append to a loaded stream: {per_append:g}")
    print(f"medians of {REPEATS} alternating runs after a warm-up, against Azurite on 127.0.0.1")
    print(json.dumps(summary))


if __name__ == "__main__":
    asyncio.run(main())
