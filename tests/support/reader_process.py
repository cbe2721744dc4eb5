"""A reader in a process of its own, that imports the organization classes and registers nothing.

Run as `python -m tests.support.reader_process CONNECTION_TABLE CACHE_DIR` with the connection string in
$MESSAGEHANDLER_CONNECTION_STRING; prints one JSON object with what each reader saw. Each reader gets a
source of its own, so none benefits from another registering types on a shared registry.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import timedelta
from typing import Any

from messagehandler import JsonEventSerializer
from messagehandler.cache import CacheEventSource, CacheReplicator
from messagehandler.channels.dispatcher import Dispatcher
from messagehandler.channels.relay import OutboxRelay
from messagehandler.channels.volatile import InProcessChannel
from messagehandler.eventsource.azure_tables import AzureTableStorageEventSource
from messagehandler.processing import ActionableContext, MemoryPositionStore, ProcessingHost, event_store_source
from messagehandler.projections import Projector
from samples.organization.search import SearchEntry, SearchEntryProjection
from samples.processing.transformation import EventSummary, SummaryQuery

STRANDED = timedelta(0)
"""The relay's `min_age` here: these tests strand outbox rows themselves and relay them at once."""

ORG = "Organization"


def source(table: str, **options: Any) -> AzureTableStorageEventSource:
    return AzureTableStorageEventSource.from_connection_string(
        os.environ["MESSAGEHANDLER_CONNECTION_STRING"], table, **options
    )


async def restored(table: str) -> dict[str, str]:
    async with source(table) as store:
        entries = await Projector(store, SearchEntryProjection).restore(SearchEntry, ORG)
    return {stream_id: entry.name for stream_id, entry in entries.items()}


async def standing_query(table: str, expected: int) -> list[str]:
    seen: list[str] = []
    done = asyncio.Event()

    async def record(outcome: ActionableContext[EventSummary]) -> None:
        seen.append(f"{outcome.message.stream} v{outcome.message.version} {outcome.message.event_type}")
        if len(seen) >= expected:
            done.set()

    async with source(table) as store:
        feed = event_store_source(
            store, ORG, JsonEventSerializer(), MemoryPositionStore(), poll=timedelta(seconds=0.05)
        )
        async with ProcessingHost(feed, JsonEventSerializer()).add(SummaryQuery(), record):
            await asyncio.wait_for(done.wait(), timeout=20)
    return sorted(seen)


async def relayed(table: str) -> list[str]:
    channel = InProcessChannel("live")
    async with source(table, outbox=True) as store:
        report = await OutboxRelay(
            store, Dispatcher().add_channel(channel).route(ORG).to("live"), min_age=STRANDED
        ).run_once()
        messages = await channel.receive(100, wait=timedelta(seconds=1))
    return [f"failed={report.failed}", *sorted(f"{m.envelope.subject} v{m.envelope.stream_version}" for m in messages)]


async def cached(table: str, directory: str) -> list[str]:
    async with source(table) as store:
        await CacheReplicator(store, directory).replicate([ORG])
    cache = CacheEventSource(directory)
    return sorted([f"{s.stream_id}: {[type(e).__name__ for e in s.events]}" async for s in cache.read_type(ORG)])


async def main(table: str, directory: str) -> None:
    result = {
        "relayed": await relayed(table),
        "standing_query": await standing_query(table, expected=3),
        "cached": await cached(table, directory),
        "restored": await restored(table),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
