"""Background work per tenant: a relay pass, a durable read model and a cache replication run for every
tenant a store holds, each inside its tenant's context, and see only that tenant's streams.

The tenants are listed from the account's tables (`TenantTables`) on Azurite, so a tenant no code in
this process has opened yet is included; one tenant's failure never stops the others.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from pydantic import BaseModel

from messagehandler import AggregateRepository, EventSource, EventTypeRegistry, InMemoryEventSource, message_context
from messagehandler.channels.dispatcher import Dispatcher
from messagehandler.channels.relay import OutboxRelay, RelayReport
from messagehandler.channels.volatile.in_process import InProcessChannel
from messagehandler.errors import ConfigurationError, Remedy, ServiceUnavailableError
from messagehandler.eventsource.tenant_jobs import TenantJobsError, for_each_tenant, tenant_ids_of
from messagehandler.eventsource.tenants import TenantRequiredError, TenantScopedEventSource, tenant_tables
from messagehandler.projections import Projection, Projector
from messagehandler.projections.checkpoints import FileCheckpointStore
from messagehandler.projections.durable import DurableReadModel
from tests.personal.events import Customer, PlanChanged

if TYPE_CHECKING:
    from messagehandler.testing.azurite import AzuriteProcess


class Plan(BaseModel):
    plan: str = ""


class PlanProjection(Projection[Plan]):
    def project_plan(self, record: Plan, event: PlanChanged) -> None:
        record.plan = event.plan


async def subscribe(customer_id: str, plan: str, source: EventSource) -> None:
    repository = AggregateRepository(source)
    customer = Customer(customer_id)
    customer.change_plan(plan)
    repository.add(customer)
    await repository.flush()


class Tenants:
    """Two tenants' tables on Azurite, written through one scoped source, and a directory listing them."""

    def __init__(self, azurite: AzuriteProcess) -> None:
        self.conn = azurite.connection_string
        self.prefix = f"T{uuid.uuid4().hex[:12]}"
        self.table_for = tenant_tables(self.prefix)

    def source(self) -> TenantScopedEventSource:
        from messagehandler.eventsource.azure_tables import AzureTableStorageEventSource

        def make(tenant: str, registry: EventTypeRegistry) -> EventSource:
            return AzureTableStorageEventSource.from_connection_string(
                self.conn, self.table_for(tenant), registry=registry, outbox=True
            )

        return TenantScopedEventSource(make)


@pytest.fixture
async def tenants(azurite: AzuriteProcess) -> AsyncIterator[Tenants]:
    from azure.data.tables.aio import TableServiceClient

    world = Tenants(azurite)
    writer = world.source()
    with message_context(tenant_id="north"):
        await subscribe("c-1", "gold", writer)
        await subscribe("c-2", "silver", writer)
    with message_context(tenant_id="south"):
        await subscribe("c-1", "bronze", writer)
    await writer.close()
    yield world
    async with TableServiceClient.from_connection_string(world.conn) as service:
        async for table in service.query_tables(
            "TableName ge @p and TableName lt @q", parameters={"p": world.prefix, "q": world.prefix + "~"}
        ):
            await service.delete_table(table.name)


@pytest.mark.azurite
async def test_the_directory_lists_the_tenants_whose_tables_exist_and_nothing_else(tenants: Tenants) -> None:
    from azure.data.tables.aio import TableServiceClient

    from messagehandler.eventsource.azure_tables.tenants import TenantTables

    async with TableServiceClient.from_connection_string(tenants.conn) as service:
        await service.create_table(f"{tenants.prefix}Archive")  # not a tenant table: capitals
        await service.create_table(f"{tenants.prefix[:-1]}x")  # a neighbour of the prefix
    async with TenantTables.from_connection_string(tenants.conn, tenants.prefix) as directory:
        assert await directory.tenant_ids() == ["north", "south"]
        assert tenants.prefix in repr(directory)
        assert "AccountKey" not in repr(directory)
        async with TableServiceClient.from_connection_string(tenants.conn) as service:
            await service.create_table(tenants.table_for("east"))
        assert await directory.tenant_ids() == ["east", "north", "south"]  # read again on every call


@pytest.mark.azurite
async def test_the_relay_publishes_the_outbox_of_every_tenant_in_its_tenant(tenants: Tenants) -> None:
    from messagehandler.eventsource.azure_tables.tenants import TenantTables

    channel = InProcessChannel("plans")
    dispatcher = Dispatcher().add_channel(channel).route("Customer").to("plans")
    async with tenants.source() as source, TenantTables.from_connection_string(tenants.conn, tenants.prefix) as listed:
        with pytest.raises(TenantRequiredError):
            OutboxRelay(source, dispatcher)  # outside a tenant's context there is no outbox to relay

        async def relay(tenant: str) -> RelayReport:
            return await OutboxRelay(source, dispatcher, min_age=timedelta(0)).run_once()

        reports = await for_each_tenant(listed, relay)
        assert {tenant: report.published for tenant, report in reports.items()} == {"north": 2, "south": 1}
        assert {tenant: report.cleared for tenant, report in reports.items()} == {"north": 2, "south": 1}
        published = sorted((m.envelope.tenant_id, m.envelope.stream_id) for m in await channel.receive(10))
        assert published == [("north", "c-1"), ("north", "c-2"), ("south", "c-1")]
        assert await for_each_tenant(listed, relay) == {"north": RelayReport(), "south": RelayReport()}


@pytest.mark.azurite
async def test_a_durable_read_model_per_tenant_sees_only_its_tenant(tenants: Tenants, tmp_path: Path) -> None:
    from messagehandler.cache import CacheEventSource, CacheReplicator
    from messagehandler.eventsource.azure_tables.tenants import TenantTables

    checkpoints = FileCheckpointStore(tmp_path / "checkpoints")
    async with tenants.source() as source, TenantTables.from_connection_string(tenants.conn, tenants.prefix) as listed:

        async def plans(tenant: str) -> dict[str, str]:
            model = DurableReadModel(
                Projector(source, PlanProjection), Plan, "Customer", checkpoints, name=f"plans-{tenant}"
            )
            await model.open()
            await model.save()
            return {stream_id: record.plan for stream_id, record in model.records.items()}

        assert await for_each_tenant(listed, plans) == {
            "north": {"c-1": "gold", "c-2": "silver"},
            "south": {"c-1": "bronze"},
        }
        with message_context(tenant_id="south"):
            await subscribe("c-3", "gold", source)
        assert (await for_each_tenant(["south"], plans))["south"] == {"c-1": "bronze", "c-3": "gold"}

        async def replicate(tenant: str) -> int:
            summary = await CacheReplicator(source, tmp_path / "cache" / tenant).replicate(["Customer"])
            return summary.total_events

        assert await for_each_tenant(listed, replicate, concurrency=2) == {"north": 2, "south": 2}
    async with CacheEventSource(tmp_path / "cache" / "south", source.registry) as cached:
        assert sorted([s.stream_id async for s in cached.read_type("Customer")]) == ["c-1", "c-3"]


async def test_one_tenants_failure_never_stops_the_others() -> None:
    source = TenantScopedEventSource(lambda tenant, registry: InMemoryEventSource(registry))
    with message_context(tenant_id="b"):
        await subscribe("c-1", "gold", source)

    async def streams(tenant: str) -> list[str]:
        if tenant == "a":
            raise ServiceUnavailableError("store a is down", service="table 'Ta'")
        return [s.stream_id async for s in source.read_type("Customer")]

    with pytest.raises(TenantJobsError) as raised:
        await for_each_tenant(["a", "b", "c"], streams)
    assert raised.value.results == {"b": ["c-1"], "c": []}
    assert list(raised.value.failures) == ["a"]
    assert "tenant 'a'" in str(raised.value)
    assert raised.value.remedy is Remedy.RETRY_LATER
    assert raised.value.retryable

    async def broken(tenant: str) -> None:
        raise ValueError("a bug")

    with pytest.raises(TenantJobsError) as raised:
        await for_each_tenant(["a"], broken)
    assert raised.value.remedy is Remedy.INSPECT


async def test_tenant_lists_are_checked_before_any_job_runs() -> None:
    ran: list[str] = []

    async def job(tenant: str) -> None:
        ran.append(tenant)

    for bad in (["a", ""], ["a", 7]):
        with pytest.raises(ConfigurationError, match="non-empty string"):
            await for_each_tenant(bad, job)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="concurrency"):
        await for_each_tenant(["a"], job, concurrency=0)
    assert ran == []
    assert await tenant_ids_of(["b", "a", "b"]) == ["b", "a"]


def test_no_method_of_the_scoped_source_names_a_tenant() -> None:
    """The promise of the module: code running for one tenant cannot name another's source through it."""
    public = {name: member for name, member in inspect.getmembers(TenantScopedEventSource) if not name.startswith("_")}
    assert "for_tenant" not in public
    for name, member in public.items():
        if callable(member):
            parameters = inspect.signature(member).parameters
            assert not [p for p in parameters if "tenant" in p.lower()], name


async def test_a_source_is_reached_only_through_the_context() -> None:
    source = TenantScopedEventSource(lambda tenant, registry: InMemoryEventSource(registry))
    with message_context(tenant_id="a"):
        await subscribe("c-1", "gold", source)
    with message_context(tenant_id="b"):
        assert await source.load("Customer", "c-1") == []
        assert [s async for s in source.read_type("Customer")] == []
    with message_context(tenant_id=""), pytest.raises(ConfigurationError, match="non-empty"):
        await source.load("Customer", "c-1")


@pytest.mark.azurite
async def test_the_directory_takes_an_endpoint_and_credential_and_keeps_the_key_out_of_errors(
    tenants: Tenants, azurite: AzuriteProcess
) -> None:
    from azure.core.credentials import AzureNamedKeyCredential

    from messagehandler.errors import AccessDeniedError
    from messagehandler.eventsource.azure_tables.tenants import TenantTables
    from messagehandler.testing.azurite import ACCOUNT_KEY, ACCOUNT_NAME

    credential = AzureNamedKeyCredential(ACCOUNT_NAME, ACCOUNT_KEY)
    async with TenantTables(azurite.table_endpoint, tenants.prefix, credential) as directory:
        assert await directory.tenant_ids() == ["north", "south"]
    wrong = "A" * 86 + "=="
    async with TenantTables(
        azurite.table_endpoint, tenants.prefix, AzureNamedKeyCredential(ACCOUNT_NAME, wrong)
    ) as bad:
        with pytest.raises(AccessDeniedError) as raised:
            await bad.tenant_ids()
    assert wrong not in str(raised.value)
    with pytest.raises(ConfigurationError, match="malformed"):
        TenantTables.from_connection_string("AccountKey=secret-value", tenants.prefix)
    with pytest.raises(ConfigurationError, match="prefix"):
        TenantTables.from_connection_string(azurite.connection_string, "9bad")
