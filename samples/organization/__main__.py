"""Run the organization sample end to end.

    python -m samples.organization            # against a local Azurite that it starts and stops
    python -m samples.organization --memory   # against the in-memory event source

It registers organizations, renames one, shows a concurrency conflict being detected and retried,
and reads everything back from the store.
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
from samples.organization.domain import Organization


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


@contextlib.asynccontextmanager
async def azurite_event_source() -> AsyncIterator[EventSource]:
    from messagehandler.eventsource.azure_tables import AzureTableStorageEventSource

    from azurite.harness import running_azurite

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
