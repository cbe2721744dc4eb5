"""The fault-injecting proxy does what each fault promises, seen through the raw SDK client."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError
from azure.data.tables.aio import TableClient

from messagehandler.azure_errors import reached_service
from messagehandler.testing.azurite import AzuriteProcess
from tests.support.fault_proxy import Fault, FaultProxy

pytestmark = pytest.mark.azurite


def _client(proxy: FaultProxy, azurite: AzuriteProcess, table: str) -> TableClient:
    return TableClient.from_connection_string(
        proxy.rewrite(azurite.connection_string), table, retry_total=0, connection_timeout=2, read_timeout=2
    )


@pytest.fixture
def table() -> str:
    return f"p{uuid.uuid4().hex[:20]}"


async def _rows(azurite: AzuriteProcess, table: str) -> list[str]:
    async with TableClient.from_connection_string(azurite.connection_string, table) as direct:
        return [row["RowKey"] async for row in direct.list_entities()]


async def test_requests_pass_through_untouched(table_proxy: FaultProxy, azurite: AzuriteProcess, table: str) -> None:
    async with _client(table_proxy, azurite, table) as client:
        await client.create_table()
        await client.create_entity({"PartitionKey": "p", "RowKey": "r"})
        assert (await client.get_entity("p", "r"))["RowKey"] == "r"
    assert any(line.startswith("POST") for line in table_proxy.requests)
    assert table_proxy.faulted == []


async def test_a_dropped_response_leaves_the_write_done(
    table_proxy: FaultProxy, azurite: AzuriteProcess, table: str
) -> None:
    async with _client(table_proxy, azurite, table) as client:
        await client.create_table()
        table_proxy.inject(Fault.DROP_RESPONSE, match=b"POST ")
        with pytest.raises((ServiceRequestError, ServiceResponseError)) as raised:  # azure-core: a request error
            await client.create_entity({"PartitionKey": "p", "RowKey": "dropped"})
        assert reached_service(raised.value)
    assert await _rows(azurite, table) == ["dropped"]
    assert len(table_proxy.faulted) == 1


async def test_a_reset_request_never_reaches_the_service(
    table_proxy: FaultProxy, azurite: AzuriteProcess, table: str
) -> None:
    async with _client(table_proxy, azurite, table) as client:
        await client.create_table()
        table_proxy.inject(Fault.RESET_REQUEST, match=b"POST ")
        with pytest.raises((ServiceRequestError, ServiceResponseError)):
            await client.create_entity({"PartitionKey": "p", "RowKey": "never"})
    assert await _rows(azurite, table) == []


async def test_a_cut_response_fails_mid_body(table_proxy: FaultProxy, azurite: AzuriteProcess, table: str) -> None:
    async with _client(table_proxy, azurite, table) as client:
        await client.create_table()
        await client.create_entity({"PartitionKey": "p", "RowKey": "r", "Text": "x" * 5000})
        # aiohttp repeats an idempotent request once when a reused connection breaks: cut both.
        table_proxy.inject(Fault.CUT_RESPONSE, match=b"GET ", cut_after=300, times=2)
        with pytest.raises((ServiceResponseError, ServiceRequestError)):
            await client.get_entity("p", "r")
        assert (await client.get_entity("p", "r"))["Text"] == "x" * 5000


async def test_refused_connections_until_accepted_again(
    table_proxy: FaultProxy, azurite: AzuriteProcess, table: str
) -> None:
    async with _client(table_proxy, azurite, table) as client:
        await client.create_table()
        async with table_proxy.down():
            with pytest.raises(ServiceRequestError) as raised:
                await client.create_entity({"PartitionKey": "p", "RowKey": "down"})
            assert not reached_service(raised.value)
        await client.create_entity({"PartitionKey": "p", "RowKey": "up"})
    assert await _rows(azurite, table) == ["up"]


async def test_a_delay_holds_the_request(table_proxy: FaultProxy, azurite: AzuriteProcess, table: str) -> None:
    async with _client(table_proxy, azurite, table) as client:
        await client.create_table()
        table_proxy.inject(Fault.DELAY, match=b"GET ", delay=5.0, times=2)
        with pytest.raises(ServiceResponseError):
            await asyncio.wait_for(client.get_entity("p", "r"), timeout=10)


@pytest.mark.parametrize(
    ("fault", "status", "stored"),
    [(Fault.ERROR_AFTER, 503, ["done"]), (Fault.ERROR_BEFORE, 400, [])],
    ids=["after forwarding: done", "before forwarding: not done"],
)
async def test_an_injected_http_error_is_what_the_client_sees(
    table_proxy: FaultProxy, azurite: AzuriteProcess, table: str, fault: Fault, status: int, stored: list[str]
) -> None:
    async with _client(table_proxy, azurite, table) as client:
        await client.create_table()
        table_proxy.inject(fault, match=b"POST ", status=status, code="Injected")
        with pytest.raises(HttpResponseError) as raised:
            await client.create_entity({"PartitionKey": "p", "RowKey": "done"})
        assert raised.value.status_code == status
    assert await _rows(azurite, table) == stored
