"""Flush-to-queue throughput, and what the outbox costs a flush.

Run: `.venv/bin/python bench/dispatch.py` (starts its own Azurite). Aggregates are registered and
renamed through the repository with a dispatcher routing to a Storage Queue; 8 writers run at a
time. The same work runs with the outbox on (outbox row in the append transaction; after publishing
the row is deleted in batches off the flush's path, and the run's time includes the last batch) and
off (publish straight after the commit), after a warm-up of each, alternating, and the medians are
compared. The last line printed is one JSON object.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from azure.data.tables.aio import TableServiceClient

from messagehandler import AggregateRepository
from messagehandler.channels.dispatcher import Dispatcher
from messagehandler.channels.transactional.storage_queue import StorageQueueChannel
from messagehandler.eventsource.azure_tables import AzureTableStorageEventSource
from messagehandler.testing.azurite import running_azurite
from samples.organization import Organization

AGGREGATES, CONCURRENCY, REPEATS = 200, 8, 5
EVENTS_PER_AGGREGATE = 2


async def run(connection_string: str, *, outbox: bool) -> float:
    table = f"bench{uuid.uuid4().hex[:12]}"
    queue = f"bench-{uuid.uuid4().hex[:12]}"
    channel = StorageQueueChannel.from_connection_string(connection_string, queue)
    dispatcher = Dispatcher().add_channel(channel).route("Organization").to(queue)
    async with AzureTableStorageEventSource.from_connection_string(connection_string, table, outbox=outbox) as source:
        warm = AggregateRepository(source, dispatcher=dispatcher)
        org = Organization("warm-up")
        org.register("Warm")
        warm.add(org)
        await warm.flush()
        slots = asyncio.Semaphore(CONCURRENCY)

        async def write(n: int) -> None:
            async with slots:
                repository = AggregateRepository(source, dispatcher=dispatcher)
                org = Organization(f"org-{n}")
                org.register(f"Org {n}")
                org.rename(f"Org {n} Ltd")
                repository.add(org)
                await repository.flush()

        start = time.perf_counter()
        await asyncio.gather(*(write(n) for n in range(AGGREGATES)))
        if outbox:
            await source.cleared()  # the last batched deletes of outbox rows count too
        elapsed = time.perf_counter() - start
        if outbox:
            assert [e async for e in source.pending("Organization")] == []
        await channel.close()
    async with TableServiceClient.from_connection_string(connection_string) as service:
        await service.delete_table(table)
    return elapsed


async def main() -> None:
    with running_azurite() as azurite:
        times: dict[bool, list[float]] = {True: [], False: []}
        for outbox in (False, True):  # warm-up
            await run(azurite.connection_string, outbox=outbox)
        for _ in range(REPEATS):
            for outbox in (False, True):
                times[outbox].append(await run(azurite.connection_string, outbox=outbox))
    events = AGGREGATES * EVENTS_PER_AGGREGATE
    with_outbox, without = statistics.median(times[True]), statistics.median(times[False])
    result = {
        "events": events,
        "queue_events_per_s": round(events / with_outbox),
        "queue_events_per_s_without_outbox": round(events / without),
        "outbox_time_ratio": round(with_outbox / without, 3),
    }
    print(f"flush -> Storage Queue, {AGGREGATES} aggregates x {EVENTS_PER_AGGREGATE} events, {CONCURRENCY} at a time")
    print(f"  with outbox:    {with_outbox:.2f} s  {result['queue_events_per_s']:>6} events/s")
    print(f"  without outbox: {without:.2f} s  {result['queue_events_per_s_without_outbox']:>6} events/s")
    print(f"  outbox time ratio: {result['outbox_time_ratio']}")
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
