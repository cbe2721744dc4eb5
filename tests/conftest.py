"""Fixtures shared by the whole suite.

`event_source` is parameterised over every EventSource implementation: a test that takes it is a
contract test and runs against each of them. The Table Storage variant runs against one Azurite
started for the whole session, with a fresh table per test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import pytest

from messagehandler import EventSource, EventTypeRegistry, InMemoryEventSource

pytest_plugins = ["messagehandler.testing.plugin"]
"""Loaded here rather than through its entry point (`-p no:messagehandler` in pyproject.toml): an entry
point plugin is imported before coverage starts, which would leave every module it imports (most of the
package) with its module-level lines counted as never run."""

if TYPE_CHECKING:
    from azure.data.tables.aio import TableClient

    from messagehandler.eventsource.azure_tables import AzureTableStorageEventSource
    from messagehandler.testing.azurite import AzuriteProcess
    from messagehandler.testing.plugin import AzuriteTable
    from tests.support.fault_proxy import FaultProxy


@pytest.fixture
def table_name(azurite_table: AzuriteTable) -> str:
    """This test's own table on the session's Azurite (`azurite` and `azurite_table` come from messagehandler's
    pytest plugin, as they would in an application's tests)."""
    return azurite_table.name


EVENT_SOURCES = ["memory", pytest.param("azure_tables", marks=pytest.mark.azurite)]


@pytest.fixture(params=EVENT_SOURCES)
async def event_source(request: pytest.FixtureRequest) -> AsyncIterator[EventSource]:
    async for source in _event_source(request, outbox=False):
        yield source


@pytest.fixture(params=EVENT_SOURCES)
async def outbox_source(request: pytest.FixtureRequest) -> AsyncIterator[EventSource]:
    """Every event source, with its outbox enabled."""
    async for source in _event_source(request, outbox=True):
        yield source


async def _event_source(request: pytest.FixtureRequest, *, outbox: bool) -> AsyncIterator[EventSource]:
    registry = EventTypeRegistry()
    if request.param == "memory":
        source: EventSource = InMemoryEventSource(registry, outbox=outbox)
    elif request.param == "azure_tables":
        from messagehandler.eventsource.azure_tables import AzureTableStorageEventSource

        azurite: AzuriteProcess = request.getfixturevalue("azurite")
        source = AzureTableStorageEventSource.from_connection_string(
            azurite.connection_string, request.getfixturevalue("table_name"), registry=registry, outbox=outbox
        )
    else:  # pragma: no cover - every param is handled above
        raise AssertionError(request.param)
    try:
        yield source
    finally:
        if request.param == "azure_tables":
            assert isinstance(source, AzureTableStorageEventSource)
            await source.table_client.delete_table()
        await source.close()


@pytest.fixture
async def make_table_source(
    azurite: AzuriteProcess, table_name: str
) -> AsyncIterator[Callable[..., AzureTableStorageEventSource]]:
    """Build sources on this test's table (options as keyword arguments); closes them and drops the table."""
    from azure.data.tables.aio import TableServiceClient

    from messagehandler.eventsource.azure_tables import AzureTableStorageEventSource

    sources: list[AzureTableStorageEventSource] = []

    def make(**options: Any) -> AzureTableStorageEventSource:
        options.setdefault("registry", EventTypeRegistry())
        source = AzureTableStorageEventSource.from_connection_string(azurite.connection_string, table_name, **options)
        sources.append(source)
        return source

    yield make
    for source in sources:
        await source.close()
    async with TableServiceClient.from_connection_string(azurite.connection_string) as service:
        await service.delete_table(table_name)


@pytest.fixture
async def raw_table(azurite: AzuriteProcess, table_name: str) -> AsyncIterator[TableClient]:
    """The SDK's own client on this test's table, to look at rows as other tools see them."""
    from azure.data.tables.aio import TableClient

    async with TableClient.from_connection_string(azurite.connection_string, table_name) as client:
        yield client


@pytest.fixture
async def table_proxy(azurite: AzuriteProcess) -> AsyncIterator[FaultProxy]:
    """A fault-injecting proxy in front of Azurite's table service; `proxy.rewrite(conn)` routes through it."""
    from tests.support.fault_proxy import FaultProxy

    async with FaultProxy(azurite.table_port) as proxy:
        yield proxy


@pytest.fixture
async def queue_proxy(azurite: AzuriteProcess) -> AsyncIterator[FaultProxy]:
    """A fault-injecting proxy in front of Azurite's queue service."""
    from tests.support.fault_proxy import FaultProxy

    async with FaultProxy(azurite.queue_port) as proxy:
        yield proxy
