"""Blocking use: one long-lived source serving many requests from threads without an event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from messagehandler import AggregateRepository, ConfigurationError
from messagehandler.eventsource.azure_tables import AzureTableStorageEventSource
from messagehandler.sync import InEventLoopError, SyncEventStore, SyncRepository
from messagehandler.testing.plugin import AzuriteTable
from samples.organization import Organization

pytestmark = pytest.mark.azurite


def open_source(table: AzuriteTable) -> AzureTableStorageEventSource:
    return AzureTableStorageEventSource.from_connection_string(table.connection_string, table.name)


@pytest.fixture
def store(azurite_table: AzuriteTable) -> Iterator[SyncEventStore]:
    with SyncEventStore(lambda: open_source(azurite_table)) as opened:
        yield opened


def register(repository: SyncRepository, org_id: str, name: str) -> None:
    org = Organization(org_id)
    org.register(name)
    repository.add(org)
    repository.flush()


def test_asyncio_run_per_request_fails_on_the_second_request(azurite_table: AzuriteTable) -> None:
    """The failure the facade exists for: the SDK clients belong to the first request's closed loop."""
    source = open_source(azurite_table)

    async def request(org_id: str) -> None:
        repository = AggregateRepository(source)
        org = Organization(org_id)
        org.register(org_id)
        repository.add(org)
        await repository.flush()

    asyncio.run(request("first"))
    with pytest.raises(RuntimeError, match="Event loop is closed"):
        asyncio.run(request("second"))


def test_one_store_serves_request_after_request(store: SyncEventStore) -> None:
    for n in range(5):
        register(store.repository(), f"org-{n}", f"Org {n}")

    loaded = store.repository().get(Organization, "org-4")

    assert (loaded.name, loaded.version) == ("Org 4", 1)


def test_many_threads_share_one_store(store: SyncEventStore) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda n: register(store.repository(), f"t-{n}", f"T {n}"), range(40)))

    ids = store.run(_ids(store))
    assert ids == sorted(f"t-{n}" for n in range(40))


async def _ids(store: SyncEventStore) -> list[str]:
    return sorted([stream_id async for stream_id in store.source.stream_ids("Organization")])


def test_retry_on_conflict_reloads_and_reruns_across_threads(store: SyncEventStore) -> None:
    register(store.repository(), "acme", "Acme")

    def rename(repository: SyncRepository) -> int:
        org = repository.get(Organization, "acme")
        org.rename(f"Acme {org.version}")
        return org.version

    with ThreadPoolExecutor(max_workers=4) as pool:
        versions = list(pool.map(lambda _: store.retry_on_conflict(rename, attempts=20), range(8)))

    assert sorted(versions) == list(range(2, 10)), "every command ran once on fresh state"
    assert store.repository().get(Organization, "acme").version == 9


def test_calling_it_from_a_running_loop_is_a_clear_error(store: SyncEventStore) -> None:
    async def inside_a_loop() -> None:
        store.repository().get(Organization, "acme")

    with pytest.raises(InEventLoopError, match="use the async API"):
        asyncio.run(inside_a_loop())


def test_a_closed_store_refuses_calls_and_closes_once(azurite_table: AzuriteTable) -> None:
    store = SyncEventStore(lambda: open_source(azurite_table))
    store.close()
    store.close()

    with pytest.raises(ConfigurationError, match="closed"):
        store.repository().get(Organization, "acme")


def test_a_coroutine_function_may_build_the_source(azurite_table: AzuriteTable) -> None:
    async def make() -> AzureTableStorageEventSource:
        return open_source(azurite_table)

    with SyncEventStore(make) as store:
        register(store.repository(), "acme", "Acme")
        assert store.repository().get(Organization, "acme").registered


def test_a_source_that_cannot_be_built_stops_the_private_loop() -> None:
    import threading

    def broken() -> AzureTableStorageEventSource:
        raise ConfigurationError("no connection string")

    before = {t.name for t in threading.enumerate()}
    with pytest.raises(ConfigurationError, match="no connection string"):
        SyncEventStore(broken)

    assert {t.name for t in threading.enumerate()} - before == set()


def test_retry_needs_at_least_one_attempt(store: SyncEventStore) -> None:
    with pytest.raises(ValueError, match="attempts"):
        store.retry_on_conflict(lambda repository: None, attempts=0)


def test_every_unit_of_work_shares_the_stores_state_cache(azurite_table: AzuriteTable) -> None:
    from messagehandler import Cached
    from messagehandler.testing import RequestLog

    log = RequestLog()
    cache = Cached()

    def source() -> AzureTableStorageEventSource:
        return AzureTableStorageEventSource.from_connection_string(
            azurite_table.connection_string, azurite_table.name, raw_request_hook=log
        )

    with SyncEventStore(source, access={Organization: cache}) as store:
        register(store.repository(), "acme", "Acme")
        log.clear()
        loaded = store.repository().get(Organization, "acme")

    assert (loaded.name, cache.size, log.kinds()) == ("Acme", 1, ["query"])
