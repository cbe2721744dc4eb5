"""Appends and reads through a proxy that fails as networks and services fail; every failure comes out typed.

Each scenario asserts the error the caller gets and what is in the table afterwards, read with the
SDK's own client straight from Azurite: nothing lost, nothing stored twice, and a retry of the same
append always ends with exactly one copy.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from azure.data.tables.aio import TableClient

from messagehandler import (
    EventTypeRegistry,
    NotCommittedError,
    OutcomeUnknownError,
    ServiceError,
    ServiceUnavailableError,
)
from messagehandler.eventsource.azure_tables import AzureTableStorageEventSource
from messagehandler.eventsource.outbox import OutboxEntry
from messagehandler.testing.azurite import AzuriteProcess
from tests.eventsource.azure_tables_support import ALL_TYPES, ORG, history, raw_rows
from tests.support.fault_proxy import Fault, FaultProxy

pytestmark = pytest.mark.azurite

BATCH = b"$batch"
MakeSource = Callable[..., AzureTableStorageEventSource]


@pytest.fixture
async def through_proxy(
    table_proxy: FaultProxy, azurite: AzuriteProcess, table_name: str, make_table_source: MakeSource
) -> AsyncIterator[MakeSource]:
    """Sources on this test's table whose requests go through the proxy; the SDK does not retry."""
    made: list[AzureTableStorageEventSource] = []
    make_table_source()  # drops the table at the end

    def make(**options: Any) -> AzureTableStorageEventSource:
        options.setdefault("registry", EventTypeRegistry(ALL_TYPES))
        options.setdefault("retry_total", 0)
        options.setdefault("connection_timeout", 2)
        options.setdefault("read_timeout", 5)
        source = AzureTableStorageEventSource.from_connection_string(
            table_proxy.rewrite(azurite.connection_string), table_name, **options
        )
        made.append(source)
        return source

    yield make
    for source in made:
        await source.close()


async def event_rows(table: TableClient) -> list[str]:
    return sorted(row["RowKey"] for row in await raw_rows(table) if not row["RowKey"].startswith("$"))


async def outbox_rows(table: TableClient) -> list[tuple[str, int, int]]:
    return [
        (row["SourceId"], row["FromVersion"], row["ToVersion"])
        for row in await raw_rows(table)
        if row["RowKey"].startswith("$outbox_")
    ]


async def until(condition: Callable[[], Any], *, seconds: float = 15.0) -> None:
    """Poll `condition` (a coroutine function) until it is true, failing after `seconds`."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


ROWS_1_TO_3 = ["acme_0000000001", "acme_0000000002", "acme_0000000003"]


@pytest.mark.parametrize("outbox", [False, True], ids=["no outbox", "outbox"])
@pytest.mark.parametrize("existing", [False, True], ids=["new stream", "existing stream"])
async def test_a_store_that_is_down_refuses_the_append_and_nothing_is_stored(
    through_proxy: MakeSource, table_proxy: FaultProxy, raw_table: TableClient, outbox: bool, existing: bool
) -> None:
    source = through_proxy(outbox=outbox)
    start = 0
    if existing:
        await source.append(ORG, "acme", 0, history("acme", 1))
        start = 1
    else:
        await source.load(ORG, "acme")  # the table exists; the append's own request is what fails
    before = (await event_rows(raw_table), await outbox_rows(raw_table))
    events = history("acme", 2, start_version=start + 1)

    async with table_proxy.down():
        with pytest.raises(NotCommittedError) as raised:
            await source.append(ORG, "acme", start, events)

    assert not raised.value.reached_service
    assert raised.value.retryable
    assert "Organization/acme" in str(raised.value)
    assert (await event_rows(raw_table), await outbox_rows(raw_table)) == before
    await source.append(ORG, "acme", start, events)
    assert await event_rows(raw_table) == ROWS_1_TO_3[: start + 2]
    assert await outbox_rows(raw_table) == ([("acme", 1, start + 2)] if outbox else [])


@pytest.mark.parametrize("outbox", [False, True], ids=["no outbox", "outbox"])
@pytest.mark.parametrize(
    "fault",
    [
        {"fault": Fault.DROP_RESPONSE},
        {"fault": Fault.CUT_RESPONSE, "cut_after": 20},
        {"fault": Fault.ERROR_AFTER, "status": 503, "code": "ServerBusy"},
        {"fault": Fault.ERROR_AFTER, "status": 500, "code": "InternalError"},
    ],
    ids=["dropped response", "cut response", "503 after the commit", "500 after the commit"],
)
async def test_a_lost_answer_is_settled_by_reading_back_and_stores_one_copy(
    through_proxy: MakeSource, table_proxy: FaultProxy, raw_table: TableClient, outbox: bool, fault: dict[str, Any]
) -> None:
    source = through_proxy(outbox=outbox)
    await source.load(ORG, "acme")
    table_proxy.inject(match=BATCH, **fault)

    entry = await source.append(ORG, "acme", 0, history("acme", 3))

    assert len(table_proxy.faulted) == 1
    assert await event_rows(raw_table) == ROWS_1_TO_3
    if outbox:
        assert isinstance(entry, OutboxEntry)
        assert (entry.from_version, entry.to_version) == (1, 3)
        assert await outbox_rows(raw_table) == [("acme", 1, 3)]
    else:
        assert entry is None
        assert await outbox_rows(raw_table) == []


async def test_a_request_cut_before_it_reached_the_store_is_not_committed(
    through_proxy: MakeSource, table_proxy: FaultProxy, raw_table: TableClient
) -> None:
    source = through_proxy(outbox=True)
    await source.load(ORG, "acme")
    events = history("acme", 2)
    table_proxy.inject(Fault.RESET_REQUEST, match=BATCH)

    with pytest.raises(NotCommittedError) as raised:
        await source.append(ORG, "acme", 0, events)

    assert "nothing was stored" in str(raised.value)
    assert await raw_rows(raw_table) == []
    await source.append(ORG, "acme", 0, events)
    assert await event_rows(raw_table) == ROWS_1_TO_3[:2]


@pytest.mark.parametrize("outbox", [False, True], ids=["no outbox", "outbox"])
async def test_when_reading_back_fails_too_the_outcome_is_unknown_and_a_retry_stores_one_copy(
    through_proxy: MakeSource, table_proxy: FaultProxy, raw_table: TableClient, outbox: bool
) -> None:
    source = through_proxy(outbox=outbox)
    await source.load(ORG, "acme")
    events = history("acme", 3)
    table_proxy.inject(Fault.DROP_RESPONSE, match=BATCH)
    table_proxy.inject(Fault.RESET_REQUEST, match=b"GET ", times=2)  # aiohttp repeats a GET once

    with pytest.raises(OutcomeUnknownError) as raised:
        await source.append(ORG, "acme", 0, events)

    assert raised.value.retryable
    assert "reload" in str(raised.value)
    assert await event_rows(raw_table) == ROWS_1_TO_3  # it was stored after all
    entry = await source.append(ORG, "acme", 0, events)
    assert await event_rows(raw_table) == ROWS_1_TO_3
    assert [e.metadata.event_id for e in await source.load(ORG, "acme")] == [e.metadata.event_id for e in events]
    if outbox:
        assert entry is not None
        assert (entry.from_version, entry.to_version) == (1, 3)
        assert await outbox_rows(raw_table) == [("acme", 1, 3)]


@pytest.mark.parametrize("outbox", [False, True], ids=["no outbox", "outbox"])
async def test_a_request_held_beyond_the_timeout_is_an_unknown_outcome_and_never_a_duplicate(
    through_proxy: MakeSource, table_proxy: FaultProxy, raw_table: TableClient, outbox: bool
) -> None:
    source = through_proxy(outbox=outbox, read_timeout=1)
    await source.load(ORG, "acme")
    events = history("acme", 3)
    table_proxy.inject(Fault.DELAY, match=BATCH, delay=3.0)

    with pytest.raises(OutcomeUnknownError, match="may still be carried out"):
        await source.append(ORG, "acme", 0, events)

    async def arrived() -> bool:
        return await event_rows(raw_table) == ROWS_1_TO_3

    await until(arrived)  # the held request reached the store after the client gave up
    await source.append(ORG, "acme", 0, events)
    assert await event_rows(raw_table) == ROWS_1_TO_3
    assert await outbox_rows(raw_table) == ([("acme", 1, 3)] if outbox else [])


async def test_a_refusal_by_the_service_is_raised_mapped_and_not_read_back(
    through_proxy: MakeSource, table_proxy: FaultProxy, raw_table: TableClient
) -> None:
    source = through_proxy()
    await source.load(ORG, "acme")
    table_proxy.inject(Fault.ERROR_BEFORE, match=BATCH, status=400, code="InvalidInput")
    requests_before = len(table_proxy.requests)

    with pytest.raises(ServiceError) as raised:
        await source.append(ORG, "acme", 0, history("acme", 1))

    assert not isinstance(raised.value, ServiceUnavailableError | OutcomeUnknownError)
    assert raised.value.status == 400
    assert len(table_proxy.requests) == requests_before + 1  # no read-back: a refusal stored nothing
    assert await raw_rows(raw_table) == []


async def test_reads_while_the_store_is_down_are_typed_and_work_again_afterwards(
    through_proxy: MakeSource, table_proxy: FaultProxy
) -> None:
    source = through_proxy(outbox=True)
    entry = await source.append(ORG, "acme", 0, history("acme", 2))
    assert entry is not None

    async def load() -> Any:
        return await source.load(ORG, "acme")

    async def read_type() -> Any:
        return [s async for s in source.read_type(ORG)]

    async def read_changes() -> Any:
        return [s async for s in source.read_changes(ORG)]

    async def stream_ids() -> Any:
        return [i async for i in source.stream_ids(ORG)]

    async def pending() -> Any:
        return [e async for e in source.pending(ORG)]

    async def clear() -> Any:
        return await source.clear(entry)

    readers = [load, read_type, read_changes, stream_ids, pending, clear]
    async with table_proxy.down():
        for read in readers:
            with pytest.raises(ServiceUnavailableError) as raised:
                await read()
            assert f"table {source.table_name!r}" in str(raised.value), read.__name__
            assert raised.value.retryable

    assert len(await load()) == 2
    assert [s.stream_id for s in await read_type()] == ["acme"]
    assert [s.stream_id for s in await read_changes()] == ["acme"]
    assert await stream_ids() == ["acme"]
    assert [e.to_version for e in await pending()] == [2]
    assert await clear() is True
