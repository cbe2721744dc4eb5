"""Run the organization sample end to end.

    python -m samples.organization            # against a local Azurite that it starts and stops
    python -m samples.organization --memory   # against the in-memory event source

It registers organizations, renames one, shows a concurrency conflict being detected and retried,
reads everything back from the store, restores the `SearchEntry` read model into an embedded
search index and prints the results of a search query. Meanwhile the committed events travel through
the outbox to a channel (a Storage Queue on Azurite, the in-process channel in memory), where a
processing host keeps a second index up to date in real time; the sample checks both agree.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

from messagehandler import (
    AggregateRepository,
    ConcurrencyError,
    EventSource,
    InMemoryEventSource,
    message_context,
    retry_on_conflict,
)
from messagehandler.channels import ChannelKind
from messagehandler.channels.dispatcher import Dispatcher
from messagehandler.channels.volatile import InProcessChannel
from messagehandler.projections import Projector
from messagehandler.search import SqliteSearchIndex
from samples.organization.domain import Organization
from samples.organization.live import LivePath, live_path
from samples.organization.search import SearchEntry, SearchEntryProjection


async def run(source: EventSource, dispatcher: Dispatcher | None = None) -> dict[str, SearchEntry]:
    """The commands, then the read model restored from the store; returns the restored entries."""
    with message_context(who="sample", correlation_id="organization-sample"):
        repository = AggregateRepository(source, dispatcher=dispatcher)
        for org_id, name in [("acme", "Acme"), ("globex", "Globex"), ("initech", "Initech")]:
            org = Organization(org_id)
            org.register(name, country="BE")
            repository.add(org)
        committed = await repository.flush()
        print(f"registered {len(committed)} organizations")

        repository = AggregateRepository(source, dispatcher=dispatcher)
        acme = await repository.get(Organization, "acme")
        acme.rename("Acme Corporation")
        await repository.flush()
        print(f"renamed acme to {acme.name!r} (version {acme.version})")

        stale = AggregateRepository(source, dispatcher=dispatcher)
        stale_acme = await stale.get(Organization, "acme")
        fresh = AggregateRepository(source, dispatcher=dispatcher)
        (await fresh.get(Organization, "acme")).rename("Acme Worldwide")
        await fresh.flush()
        stale_acme.rename("Acme Stale")
        try:
            await stale.flush()
        except ConcurrencyError as conflict:
            print(f"conflict detected: {conflict}")

        async def rename(repository: AggregateRepository) -> None:
            org = await repository.get(Organization, "acme")
            org.rename(f"{org.name} (retried)")

        await retry_on_conflict(source, rename, dispatcher=dispatcher)

    print("organizations in the store:")
    async for stream in source.read_type("Organization"):
        org = Organization(stream.stream_id)
        org.restore_from(stream.events)
        print(f"  {org.id:<8} {org.name!r:<32} version {org.version}, last change by {stream.events[-1].metadata.who}")

    return await search(source)


async def search(source: EventSource, query: str = "acme") -> dict[str, SearchEntry]:
    """Rebuild the read model from the store, index it, and query it: the disaster-recovery path."""
    entries = await Projector(source, SearchEntryProjection).restore(SearchEntry, "Organization")
    async with SqliteSearchIndex(SearchEntry) as index:
        await index.upsert(entries)
        hits = await index.search(query)
    print(f"restored {len(entries)} search entries; results for {query!r}:")
    for hit in hits:
        former = ", ".join(hit.record.former_names)
        print(f"  {hit.id:<8} {hit.record.name!r:<32} score {hit.score:.3f}, formerly: {former}")
    return entries


async def run_live(source: EventSource, live: LivePath) -> None:
    """The sample with publishing: commands, then wait until the live index has seen every event."""
    restored = await run(source, live.dispatcher)
    stored = sum([len(stream.events) async for stream in source.read_type("Organization")])
    await asyncio.wait_for(live.until_projected(stored), timeout=60)
    live_entries = {entry_id: await live.index.get(entry_id) for entry_id in restored}
    agree = all(live_entries[entry_id] == entry for entry_id, entry in restored.items())
    print(f"live index kept up from the channel: {live.projected} events projected, agrees with the restore: {agree}")
    if not agree:
        raise SystemExit("the live index differs from the read model restored from the store")


@contextlib.asynccontextmanager
async def on_azurite() -> AsyncIterator[tuple[EventSource, LivePath]]:
    """The Table Storage event source with its outbox, and a Storage Queue as the channel."""
    from messagehandler.channels.transactional.storage_queue import StorageQueueChannel
    from messagehandler.eventsource.azure_tables import AzureTableStorageEventSource
    from messagehandler.testing.azurite import running_azurite

    with running_azurite() as azurite:
        print(f"Azurite running at {azurite.table_endpoint}")
        conn = azurite.connection_string
        async with (
            AzureTableStorageEventSource.from_connection_string(conn, "SampleEvents", outbox=True) as source,
            StorageQueueChannel.from_connection_string(conn, f"organizations-{uuid.uuid4().hex[:8]}") as channel,
        ):
            receiver = channel.receiver(visibility_timeout=timedelta(seconds=30))
            try:
                async with live_path(source, channel, receiver, ChannelKind.TRANSACTIONAL) as live:
                    yield source, live
            finally:
                await receiver.close()


@contextlib.asynccontextmanager
async def in_memory() -> AsyncIterator[tuple[EventSource, LivePath]]:
    source = InMemoryEventSource(outbox=True)
    channel = InProcessChannel("organizations")
    async with live_path(source, channel, channel, ChannelKind.VOLATILE) as live:
        yield source, live


async def main() -> None:
    parser = argparse.ArgumentParser(description="The organization sample.")
    parser.add_argument("--memory", action="store_true", help="use the in-memory event source instead of Azurite")
    args = parser.parse_args()
    environment = in_memory() if args.memory else on_azurite()
    async with environment as (source, live):
        await run_live(source, live)


if __name__ == "__main__":
    asyncio.run(main())
