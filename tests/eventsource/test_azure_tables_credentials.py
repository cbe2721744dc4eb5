"""Constructors for every credential kind, and no secret in repr, errors or logs."""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, quote

import pytest
from azure.core.credentials import AzureNamedKeyCredential, AzureSasCredential
from azure.data.tables import AccountSasPermissions, ResourceTypes, generate_account_sas
from azure.data.tables.aio import TableServiceClient

from messagehandler import AccessDeniedError, ConfigurationError, EventTypeRegistry
from messagehandler.eventsource.azure_tables import AzureTableStorageEventSource, TableNotFoundError
from messagehandler.eventsource.outbox import OutboxEntry
from messagehandler.testing.azurite import ACCOUNT_KEY, ACCOUNT_NAME, AzuriteProcess
from tests.eventsource.azure_tables_support import ALL_TYPES, ORG, history

pytestmark = pytest.mark.azurite


@pytest.fixture
async def drop_table(azurite: AzuriteProcess, table_name: str) -> AsyncIterator[str]:
    yield table_name
    async with TableServiceClient.from_connection_string(azurite.connection_string) as service:
        await service.delete_table(table_name)


def sas_token() -> str:
    return generate_account_sas(
        AzureNamedKeyCredential(ACCOUNT_NAME, ACCOUNT_KEY),
        ResourceTypes(service=True, container=True, object=True),
        AccountSasPermissions(read=True, write=True, delete=True, list=True, add=True, create=True, update=True),
        datetime.now(UTC) + timedelta(hours=1),
    )


async def round_trip(source: AzureTableStorageEventSource) -> None:
    source.registry.register(*ALL_TYPES)
    async with source:
        await source.append(ORG, "acme", 0, history("acme", 2))
        assert len(await source.load(ORG, "acme")) == 2


async def test_an_account_key_credential_with_the_endpoint_works(azurite: AzuriteProcess, drop_table: str) -> None:
    credential = AzureNamedKeyCredential(ACCOUNT_NAME, ACCOUNT_KEY)

    await round_trip(AzureTableStorageEventSource(azurite.table_endpoint, drop_table, credential))


async def test_a_sas_credential_works_and_stays_out_of_repr(azurite: AzuriteProcess, drop_table: str) -> None:
    token = sas_token()
    signature = parse_qs(token)["sig"][0]
    source = AzureTableStorageEventSource(azurite.table_endpoint, drop_table, AzureSasCredential(token))

    await round_trip(source)

    assert signature not in repr(source)
    assert signature not in str(source)
    assert repr(source) == f"AzureTableStorageEventSource(account='{ACCOUNT_NAME}', table='{drop_table}', shards=1)"


async def test_repr_shows_account_and_table_only(azurite: AzuriteProcess) -> None:
    source = AzureTableStorageEventSource.from_connection_string(azurite.connection_string, "events")

    assert ACCOUNT_KEY not in repr(source)
    assert ACCOUNT_KEY[:12] not in repr(source)
    assert "events" in repr(source)
    assert ACCOUNT_NAME in repr(source)
    await source.close()


@pytest.mark.parametrize(
    "connection_string",
    [
        f"not a connection string {ACCOUNT_KEY}",
        f"AccountName=a;AccountKey={ACCOUNT_KEY};TableEndpoint=",
        f"AccountKey={ACCOUNT_KEY}",
        "",
    ],
)
def test_a_malformed_connection_string_is_a_configuration_error_without_the_key(connection_string: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        AzureTableStorageEventSource.from_connection_string(connection_string, "events")

    error = raised.value
    assert ACCOUNT_KEY not in str(error)
    assert ACCOUNT_KEY[:12] not in str(error)
    assert error.__cause__ is None
    assert error.__suppress_context__


def test_bad_table_names_and_options_are_configuration_errors() -> None:
    conn = f"AccountName=a;AccountKey={ACCOUNT_KEY};TableEndpoint=http://127.0.0.1:1/a"
    for table in ("ab", "1abc", "has-dash", "x" * 64):
        with pytest.raises(ConfigurationError, match="table name"):
            AzureTableStorageEventSource.from_connection_string(conn, table)
    with pytest.raises(ConfigurationError, match="page_size"):
        AzureTableStorageEventSource.from_connection_string(conn, "events", page_size=1001)


async def test_debug_logs_of_a_full_append_and_load_hold_no_secret(
    azurite: AzuriteProcess, drop_table: str, caplog: pytest.LogCaptureFixture
) -> None:
    token = sas_token()
    signature = parse_qs(token)["sig"][0]
    caplog.set_level(logging.DEBUG)
    registry = EventTypeRegistry(ALL_TYPES)
    by_key = AzureTableStorageEventSource.from_connection_string(
        azurite.connection_string, drop_table, registry=registry
    )
    by_sas = AzureTableStorageEventSource(
        azurite.table_endpoint, drop_table, AzureSasCredential(token), registry=registry
    )

    async with by_key, by_sas:
        await by_key.append(ORG, "acme", 0, history("acme", 2))
        await by_sas.append(ORG, "acme", 2, history("acme", 1, start_version=3))
        assert len(await by_sas.load(ORG, "acme")) == 3
        assert len([s async for s in by_key.read_type(ORG)]) == 1

    logged = caplog.text
    assert "Request URL" in logged
    assert "Authorization" in logged
    for secret in (ACCOUNT_KEY, ACCOUNT_KEY[:12], signature, quote(signature, safe=""), token):
        assert secret not in logged
    assert "SharedKey " not in logged


def test_the_unredacted_network_trace_is_refused(azurite: AzuriteProcess) -> None:
    with pytest.raises(ConfigurationError, match="logging_enable"):
        AzureTableStorageEventSource.from_connection_string(azurite.connection_string, "events", logging_enable=True)
    with pytest.raises(ConfigurationError, match="logging_enable"):
        AzureTableStorageEventSource(
            azurite.table_endpoint, "events", AzureSasCredential(sas_token()), logging_enable=True
        )


WRONG_KEY = base64.b64encode(b"not the account key, but shaped like one" * 2).decode()


def every_operation(source: AzureTableStorageEventSource) -> list[Callable[[], Awaitable[object]]]:
    """Each public operation of the source, as a call that reaches the service."""
    entry = OutboxEntry(ORG, "acme", 1, 1, "W/\"datetime'2026-01-01T00%3A00%3A00Z'\"")

    async def collect(rows: AsyncIterator[object]) -> list[object]:
        return [row async for row in rows]

    return [
        lambda: source.append(ORG, "acme", 0, history("acme", 1)),
        lambda: source.append(ORG, "acme", 1, history("acme", 1, start_version=2)),
        lambda: source.load(ORG, "acme"),
        lambda: collect(source.read_type(ORG)),
        lambda: collect(source.read_changes(ORG)),
        lambda: collect(source.stream_ids(ORG)),
        lambda: collect(source.pending(ORG)),
        lambda: source.clear(entry),
    ]


@pytest.mark.parametrize("create_table", [True, False])
async def test_a_wrong_key_is_access_denied_for_every_operation_without_the_key_or_the_xml(
    azurite: AzuriteProcess, drop_table: str, create_table: bool
) -> None:
    async with AzureTableStorageEventSource.from_connection_string(azurite.connection_string, drop_table) as good:
        await good.load(ORG, "acme")  # the table exists
    wrong = azurite.connection_string.replace(ACCOUNT_KEY, WRONG_KEY)
    source = AzureTableStorageEventSource.from_connection_string(
        wrong, drop_table, registry=EventTypeRegistry(ALL_TYPES), outbox=True, create_table=create_table, retry_total=0
    )

    async with source:
        for operation in every_operation(source):
            with pytest.raises(AccessDeniedError) as raised:
                await operation()
            message = str(raised.value)
            assert raised.value.status == 403
            assert f"table {drop_table!r}" in message
            assert "check the account key" in message
            assert "<?xml" not in message
            assert "\n" not in message
            for secret in (WRONG_KEY, WRONG_KEY[:12], ACCOUNT_KEY):
                assert secret not in message
                assert secret not in repr(raised.value.__cause__)


async def test_a_missing_table_is_table_not_found_for_every_operation(azurite: AzuriteProcess, table_name: str) -> None:
    source = AzureTableStorageEventSource.from_connection_string(
        azurite.connection_string, table_name, registry=EventTypeRegistry(ALL_TYPES), outbox=True, create_table=False
    )

    async with source:
        for operation in every_operation(source)[:-1]:  # Azurite answers a delete in a missing table with 204
            with pytest.raises(TableNotFoundError, match=table_name):
                await operation()
