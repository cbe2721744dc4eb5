"""Tenant isolation through the API: code running for tenant A can neither read nor append tenant B's streams.

Runs with in-memory sources and with a table per tenant on Azurite; per-tenant keys show that one
tenant's erasure and key-encryption key never touch another's.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

import pytest

from messagehandler import AggregateRepository, EventSource, EventTypeRegistry, InMemoryEventSource, message_context
from messagehandler.errors import ConfigurationError, ServiceUnavailableError
from messagehandler.eventsource import tenants
from messagehandler.eventsource.outbox import OutboxEntry
from messagehandler.eventsource.tenants import (
    TenantMismatchError,
    TenantRequiredError,
    TenantScopedEventSource,
    tenant_tables,
)
from messagehandler.personal import InMemoryKeyStore, Keyring, LocalKeyEncryptionKey, PersonalDataSerializer
from tests.personal.events import Customer

if TYPE_CHECKING:
    from messagehandler.testing.azurite import AzuriteProcess

Factory = Callable[..., EventSource]
"""(tenant, registry, serializer=None) -> the tenant's source: in memory, or its own table on Azurite."""


@pytest.fixture(params=["memory", pytest.param("azure_tables", marks=pytest.mark.azurite)])
async def factory(request: pytest.FixtureRequest) -> AsyncIterator[Factory]:
    if request.param == "memory":
        yield lambda tenant, registry, serializer=None: InMemoryEventSource(registry, serializer=serializer)
        return
    from azure.data.tables.aio import TableServiceClient

    from messagehandler.eventsource.azure_tables import AzureTableStorageEventSource

    azurite: AzuriteProcess = request.getfixturevalue("azurite")
    table_for = tenant_tables(f"T{uuid.uuid4().hex[:12]}")
    tables: list[str] = []

    def make(tenant: str, registry: EventTypeRegistry, serializer: PersonalDataSerializer | None = None) -> EventSource:
        tables.append(table_for(tenant))
        return AzureTableStorageEventSource.from_connection_string(
            azurite.connection_string, tables[-1], registry=registry, serializer=serializer
        )

    yield make
    async with TableServiceClient.from_connection_string(azurite.connection_string) as service:
        for table in tables:
            await service.delete_table(table)


async def register(source: EventSource, stream_id: str) -> None:
    repository = AggregateRepository(source)
    customer = Customer(stream_id)
    customer.change_plan("gold")
    repository.add(customer)
    await repository.flush()


async def test_each_tenant_sees_only_its_own_streams(factory: Factory) -> None:
    async with TenantScopedEventSource(factory) as source:
        with message_context(tenant_id="a"):
            await register(source, "shared-id")
            await register(source, "only-a")
        with message_context(tenant_id="b"):
            await register(source, "shared-id")

            assert sorted([s.stream_id async for s in source.read_type("Customer")]) == ["shared-id"]
            assert await source.load("Customer", "only-a") == []
            assert [i async for i in source.stream_ids("Customer")] == ["shared-id"]
            assert [e.metadata.tenant_id for e in await source.load("Customer", "shared-id")] == ["b"]
        with message_context(tenant_id="a"):
            assert sorted([s.stream_id async for s in source.read_type("Customer")]) == ["only-a", "shared-id"]
        assert source.tenants == ["a", "b"]


async def test_without_a_tenant_in_the_context_nothing_is_read_or_written(factory: Factory) -> None:
    async with TenantScopedEventSource(factory) as source:
        with pytest.raises(TenantRequiredError, match="message_context"):
            await source.load("Customer", "x")
        with pytest.raises(TenantRequiredError):
            [s async for s in source.read_type("Customer")]
        with pytest.raises(TenantRequiredError):
            await register(source, "x")
        assert source.tenants == []


async def test_events_emitted_for_one_tenant_cannot_be_appended_for_another(factory: Factory) -> None:
    async with TenantScopedEventSource(factory) as source:
        repository = AggregateRepository(source)
        with message_context(tenant_id="a"):
            customer = Customer("c-1")
            customer.change_plan("gold")  # stamped for tenant a
            repository.add(customer)
        with message_context(tenant_id="b"), pytest.raises(TenantMismatchError, match=r"tenant 'a'.*tenant 'b'"):
            await repository.flush()
        with message_context(tenant_id="b"):
            assert await source.load("Customer", "c-1") == []
        with message_context(tenant_id="a"):
            assert await source.load("Customer", "c-1") == []


async def test_a_tenant_has_its_own_keys_and_its_erasure_touches_no_other(factory: Factory) -> None:
    keyrings = {
        tenant: Keyring(InMemoryKeyStore(), LocalKeyEncryptionKey.generate(id=f"kek-{tenant}")) for tenant in "ab"
    }

    def with_keys(tenant: str, registry: EventTypeRegistry) -> EventSource:
        return factory(tenant, registry, PersonalDataSerializer(keyrings[tenant], registry=registry))

    async with TenantScopedEventSource(with_keys) as source:
        for tenant in "ab":
            with message_context(tenant_id=tenant):
                repository = AggregateRepository(source)
                customer = Customer("c-1")
                customer.register("Ann Smith", "ann@example.com")
                repository.add(customer)
                await repository.flush()

        await keyrings["a"].forget("c-1")

        with message_context(tenant_id="a"):
            assert (await AggregateRepository(source).get(Customer, "c-1")).name == "(erased)"
        with message_context(tenant_id="b"):
            assert (await AggregateRepository(source).get(Customer, "c-1")).name == "Ann Smith"
        assert [r.key_ids async for r in keyrings["b"].erasures()] == []


def test_tenant_table_names_are_refused_when_they_could_collide_or_not_fit() -> None:
    name = tenant_tables("Events")

    assert name("acme42") == "Eventsacme42"
    for bad in ("Acme", "acme-eu", "", "x" * 58):
        with pytest.raises(ConfigurationError, match="cannot name a table"):
            name(bad)
    with pytest.raises(ConfigurationError, match="prefix"):
        tenant_tables("9events")


async def test_outbox_and_lifecycle_follow_the_tenant_of_the_context() -> None:
    source = TenantScopedEventSource(lambda tenant, registry: InMemoryEventSource(registry, outbox=tenant == "a"))
    with message_context(tenant_id="a"):
        await register(source, "c-1")
        assert source.outbox_enabled
        [entry] = [e async for e in source.pending("Customer")]
        assert await source.clear(entry)
        record = await source.archive("Customer", "c-1", who="ops")
        assert await source.lifecycle("Customer", "c-1") == record
        assert [s.stream_id async for s in source.read_archived("Customer")] == ["c-1"]
        assert [s async for s in source.read_changes("Customer")] == []
        assert await source.unarchive("Customer", "c-1")
        deleted = await source.delete("Customer", "c-1")
        assert deleted.who is None
    with message_context(tenant_id="b"):
        assert not source.outbox_enabled
        with pytest.raises(ConfigurationError, match="no outbox"):
            [e async for e in source.pending("Customer")]
        assert await source.lifecycle("Customer", "c-1") is None
    assert "a" in repr(source)
    await source.close()
    assert source.tenants == []


async def test_a_tenant_source_without_archive_and_delete_says_so() -> None:
    from messagehandler.cache import CacheEventSource

    source = TenantScopedEventSource(lambda tenant, registry: CacheEventSource.__new__(CacheEventSource))
    with message_context(tenant_id="a"), pytest.raises(ConfigurationError, match="cannot archive or delete"):
        await source.archive("Customer", "c-1")


async def test_snapshots_follow_the_tenant_of_the_context() -> None:
    from messagehandler.cache import CacheEventSource
    from messagehandler.eventsource.snapshots import Snapshot
    from messagehandler.testing import recorded
    from tests.personal.events import PlanChanged

    source = TenantScopedEventSource(lambda tenant, registry: InMemoryEventSource(registry))
    snapshot = Snapshot(1, "schema", "{}")
    for tenant in ("a", "b"):
        with message_context(tenant_id=tenant):
            events = recorded("Customer", "c-1", [PlanChanged(plan="gold")], tenant_id=tenant)
            await source.append("Customer", "c-1", 0, events, snapshot=snapshot if tenant == "a" else None)
    with message_context(tenant_id="a"):
        assert await source.read_snapshot("Customer", "c-1") == snapshot
    with message_context(tenant_id="b"):
        assert await source.read_snapshot("Customer", "c-1") is None
    read_only = TenantScopedEventSource(lambda tenant, registry: CacheEventSource.__new__(CacheEventSource))
    with message_context(tenant_id="a"), pytest.raises(ConfigurationError, match="keeps no snapshots"):
        await read_only.read_snapshot("Customer", "c-1")


async def test_published_entries_are_cleared_through_the_tenants_source() -> None:
    class ClearsNow(InMemoryEventSource):
        """A tenant source whose outbox only clears at once (no `clear_later`)."""

        clear_later = None  # type: ignore[assignment]

    sources = {"a": InMemoryEventSource(outbox=True), "b": ClearsNow(outbox=True)}
    source = TenantScopedEventSource(lambda tenant, registry: sources[tenant])
    for tenant in ("a", "b"):
        with message_context(tenant_id=tenant):
            await register(source, "c-1")
            [entry] = [e async for e in source.pending("Customer")]
            source.clear_later(entry)
    await source.cleared()

    for tenant in ("a", "b"):
        with message_context(tenant_id=tenant):
            assert [e async for e in source.pending("Customer")] == []


async def test_close_waits_for_background_clears_and_logs_the_failed_ones(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    started, hang = asyncio.Event(), asyncio.Event()
    ended: list[str] = []

    class ClearsNow(InMemoryEventSource):
        clear_later = None  # type: ignore[assignment]

        async def clear(self, entry: OutboxEntry) -> bool:
            started.set()
            try:
                if entry.stream_id == "c-hangs":
                    await hang.wait()
                raise ServiceUnavailableError("busy", service="table 'T'")
            finally:
                ended.append(entry.stream_id)

    monkeypatch.setattr(tenants, "CLOSE_CLEARING_WAIT", 0.5)
    source = TenantScopedEventSource(lambda tenant, registry: ClearsNow(outbox=True))
    with message_context(tenant_id="a"):
        for stream_id in ("c-fails", "c-hangs"):
            await register(source, stream_id)
        for entry in [e async for e in source.pending("Customer")]:
            source.clear_later(entry)
    await started.wait()

    await source.close()

    assert sorted(ended) == ["c-fails", "c-hangs"]  # both ended before the sources closed
    assert "could not be cleared; the relay will publish it again: busy" in caplog.text
    assert "was not cleared before the source closed" in caplog.text
