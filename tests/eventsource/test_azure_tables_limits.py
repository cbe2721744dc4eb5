"""Service limits Azurite does not enforce are refused before anything is sent."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from azure.data.tables.aio import TableClient

from messagehandler import MessageHandlerError
from messagehandler.eventsource.azure_tables import (
    AzureTableStorageEventSource,
    EntityTooLargeError,
    TableLimitError,
    TooManyEntitiesError,
    TooManyPropertiesError,
    TransactionTooLargeError,
)
from messagehandler.eventsource.azure_tables.limits import entity_bytes
from tests.eventsource.azure_tables_support import ALL_TYPES, ORG, history, notes, raw_rows

pytestmark = pytest.mark.azurite

MakeSource = Callable[..., AzureTableStorageEventSource]


@pytest.fixture
def source(make_table_source: MakeSource) -> AzureTableStorageEventSource:
    created = make_table_source()
    created.registry.register(*ALL_TYPES)
    return created


async def test_a_hundred_events_fit_one_transaction(source: AzureTableStorageEventSource) -> None:
    await source.append(ORG, "acme", 0, history("acme", 100))

    assert len(await source.load(ORG, "acme")) == 100


async def test_101_events_are_refused_and_nothing_is_written(
    source: AzureTableStorageEventSource, raw_table: TableClient
) -> None:
    await source.load(ORG, "acme")  # creates the table, so "empty" below means "nothing written"

    with pytest.raises(TooManyEntitiesError) as raised:
        await source.append(ORG, "acme", 0, history("acme", 101))

    error = raised.value
    assert isinstance(error, TableLimitError)
    assert isinstance(error, MessageHandlerError)
    assert (error.stream, error.actual, error.maximum) == ("Organization/acme", 101, 100)
    assert "Organization/acme" in str(error)
    assert "entities per transaction" in str(error)
    assert await raw_rows(raw_table) == []


async def test_an_entity_over_1_mib_is_refused(source: AzureTableStorageEventSource, raw_table: TableClient) -> None:
    await source.load(ORG, "big")

    with pytest.raises(EntityTooLargeError) as raised:
        await source.append(ORG, "big", 0, notes("big", ["ok", "x" * 530_000]))

    assert raised.value.version == 2
    assert raised.value.actual > 1024 * 1024
    assert "entity size limit" in str(raised.value)
    assert "version 2" in str(raised.value)
    assert await raw_rows(raw_table) == []


async def test_a_payload_of_4_mib_is_refused(source: AzureTableStorageEventSource, raw_table: TableClient) -> None:
    await source.load(ORG, "big")
    texts = ["y" * 450_000] * 10  # each entity under 1 MiB, together over 4 MiB

    with pytest.raises(TransactionTooLargeError) as raised:
        await source.append(ORG, "big", 0, notes("big", texts))

    assert raised.value.actual >= 4 * 1024 * 1024
    assert await raw_rows(raw_table) == []


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


async def test_with_the_outbox_100_events_are_refused_and_the_error_says_why(
    make_table_source: MakeSource, raw_table: TableClient
) -> None:
    source = make_table_source(outbox=True)
    source.registry.register(*ALL_TYPES)
    await source.load(ORG, "acme")

    with pytest.raises(TooManyEntitiesError) as raised:
        await source.append(ORG, "acme", 0, history("acme", 100))

    assert raised.value.actual == 101
    assert any("outbox row" in note and "99 events" in note for note in raised.value.__notes__)
    assert await raw_rows(raw_table) == []
    await source.append(ORG, "acme", 0, history("acme", 99))
    assert len(await source.load(ORG, "acme")) == 99
