"""Conflicts map to ConcurrencyError naming the actual version; what failed requests do is in test_azure_tables_faults."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from azure.data.tables.aio import TableClient

from messagehandler import ConcurrencyError, EventTypeRegistry
from messagehandler.eventsource.azure_tables import AzureTableStorageEventSource
from messagehandler.testing.azurite import AzuriteProcess
from tests.eventsource.azure_tables_support import ALL_TYPES, ORG, history, raw_rows
from tests.support.fault_proxy import FaultProxy

pytestmark = pytest.mark.azurite

MakeSource = Callable[..., AzureTableStorageEventSource]


@pytest.fixture
def source(make_table_source: MakeSource) -> AzureTableStorageEventSource:
    created = make_table_source()
    created.registry.register(*ALL_TYPES)
    return created


async def test_a_conflict_in_the_transaction_names_the_actual_version(
    make_table_source: MakeSource, table_proxy: FaultProxy, azurite: AzuriteProcess, table_name: str
) -> None:
    first = make_table_source()
    first.registry.register(*ALL_TYPES)
    await first.append(ORG, "acme", 0, history("acme", 2))
    await first.append(ORG, "acme", 2, history("acme", 3, start_version=3))
    async with AzureTableStorageEventSource.from_connection_string(
        table_proxy.rewrite(azurite.connection_string), table_name, registry=EventTypeRegistry(ALL_TYPES)
    ) as second:
        with pytest.raises(ConcurrencyError) as raised:
            await second.append(ORG, "acme", 2, history("acme", 1, start_version=3))

    assert (raised.value.expected_version, raised.value.actual_version) == (2, 5)
    assert sum("$batch" in line for line in table_proxy.requests) == 1  # refused by the transaction itself


async def test_appending_after_a_version_the_stream_does_not_have_conflicts(
    source: AzureTableStorageEventSource, raw_table: TableClient
) -> None:
    await source.append(ORG, "acme", 0, history("acme", 2))

    with pytest.raises(ConcurrencyError) as raised:
        await source.append(ORG, "acme", 4, history("acme", 1, start_version=5))

    assert raised.value.actual_version == 2
    assert len(await raw_rows(raw_table)) == 2
