"""Limits only the Table Storage source can reach, and the size formula; the shared limits are in the contract.

`messagehandler.testing.table_limits.TableLimitsContract` holds what both built-in sources refuse
(entities, entity and transaction size, every metadata column); these are the Table-only cases.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from azure.data.tables.aio import TableClient

from messagehandler.eventsource.azure_tables import AzureTableStorageEventSource, TooManyPropertiesError
from messagehandler.eventsource.limits import entity_bytes
from tests.eventsource.azure_tables_support import ALL_TYPES, ORG, notes, raw_rows

pytestmark = pytest.mark.azurite

MakeSource = Callable[..., AzureTableStorageEventSource]


async def test_more_than_252_properties_are_refused(make_table_source: MakeSource, raw_table: TableClient) -> None:
    source = make_table_source(body_chunk_chars=100)
    source.registry.register(*ALL_TYPES)
    await source.load(ORG, "wide")

    with pytest.raises(TooManyPropertiesError) as raised:
        await source.append(ORG, "wide", 0, notes("wide", ["z" * 30_000]))

    assert raised.value.maximum == 252
    assert await raw_rows(raw_table) == []


def test_entity_size_follows_microsofts_formula() -> None:
    entity = {"PartitionKey": "P", "RowKey": "R1", "Name": "ab", "Count": 3}

    # 4 + 2*(1+2) + (8 + 2*4 + 4 + 2*2) + (8 + 2*5 + 8)
    assert entity_bytes(entity) == 4 + 6 + 24 + 26
    assert entity_bytes({**entity, "Name": "😀"}) == entity_bytes(entity)
