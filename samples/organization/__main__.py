"""Run the organization sample end to end.

    python -m samples.organization            # against a local Azurite that it starts and stops
    python -m samples.organization --memory   # against the in-memory event source

It registers organizations, renames one, shows a concurrency conflict being detected and retried,
reads everything back from the store, restores the `SearchEntry` read model into an embedded
search index and prints the results of a search query.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import AsyncIterator

from messagehandler import (
    AggregateRepository,
    ConcurrencyError,
    EventSource,
    InMemoryEventSource,
    message_context,
    retry_on_conflict,
)
from messagehandler.projections import Projector
from messagehandler.search import SqliteSearchIndex
from samples.organization.domain import Organization
from samples.organization.search import SearchEntry, SearchEntryProjection


async def run(source: EventSource) -> None:
    with message_context(who="sample", correlation_id="organization-sample"):
        repository = AggregateRepository(source)
        for org_id, name in [("acme", "Acme"), ("globex", "Globex"), ("initech", "Initech")]:
            org = Organization(org_id)
            org.register(name, country="BE")
            repository.add(org)
        committed = await repository.flush()
        print(f"registered {len(committed)} organizations")

        repository = AggregateRepository(source)
        acme = await repository.get(Organization, "acme")
        acme.rename("Acme Corporation")
        await repository.flush()
        print(f"renamed acme to {acme.name!r} (version {acme.version})")

        stale = AggregateRepository(source)
        stale_acme = await stale.get(Organization, "acme")
        fresh = AggregateRepository(source)
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

        await retry_on_conflict(source, rename)

    print("organizations in the store:")
    async for stream in source.read_type("Organization"):
        org = Organization(stream.stream_id)
        org.restore_from(stream.events)
        print(f"  {org.id:<8} {org.name!r:<32} version {org.version}, last change by {stream.events[-1].metadata.who}")

    await search(source)


async def search(source: EventSource, query: str = "acme") -> None:
    """Rebuild the read model from the store, index it, and query it: the disaster-recovery path."""
    entries = await Projector(source, SearchEntryProjection).restore(SearchEntry, "Organization")
    async with SqliteSearchIndex(SearchEntry) as index:
        await index.upsert(entries)
        hits = await index.search(query)
    print(f"restored {len(entries)} search entries; results for {query!r}:")
    for hit in hits:
        former = ", ".join(hit.record.former_names)
        print(f"  {hit.id:<8} {hit.record.name!r:<32} score {hit.score:.3f}, formerly: {former}")


@contextlib.asynccontextmanager
async def azurite_event_source() -> AsyncIterator[EventSource]:
    from azurite.harness import running_azurite
    from messagehandler.eventsource.azure_tables import AzureTableStorageEventSource

    with running_azurite() as azurite:
        print(f"Azurite running at {azurite.table_endpoint}")
        async with AzureTableStorageEventSource.from_connection_string(
            azurite.connection_string, "SampleEvents"
        ) as source:
            yield source


async def main() -> None:
    parser = argparse.ArgumentParser(description="The organization sample.")
    parser.add_argument("--memory", action="store_true", help="use the in-memory event source instead of Azurite")
    args = parser.parse_args()
    if args.memory:
        await run(InMemoryEventSource())
        return
    async with azurite_event_source() as source:
        await run(source)


if __name__ == "__main__":
    asyncio.run(main())
