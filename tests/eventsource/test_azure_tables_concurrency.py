"""Conflicts map to ConcurrencyError; a retried or ambiguous append never writes twice."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ServiceResponseError
from azure.data.tables import TableTransactionError
from azure.data.tables.aio import TableClient

from messagehandler import ConcurrencyError
from messagehandler.eventsource.azure_tables import AzureTableStorageEventSource
from tests.eventsource.azure_tables_support import ALL_TYPES, ORG, history, raw_rows

pytestmark = pytest.mark.azurite

MakeSource = Callable[..., AzureTableStorageEventSource]


@pytest.fixture
def source(make_table_source: MakeSource) -> AzureTableStorageEventSource:
    created = make_table_source()
    created.registry.register(*ALL_TYPES)
    return created


def commit_then_fail(
    monkeypatch: pytest.MonkeyPatch, source: AzureTableStorageEventSource, error: Exception, *, commit: bool = True
) -> list[int]:
    """Make the next transaction reach the service (or not) and then fail as a lost response would."""
    client = source.table_client
    real = client.submit_transaction
    calls: list[int] = []

    async def submit(operations: Any, **kwargs: Any) -> Any:
        calls.append(1)
        monkeypatch.setattr(client, "submit_transaction", real)
        if commit:
            await real(operations, **kwargs)
        raise error

    monkeypatch.setattr(client, "submit_transaction", submit)
    return calls


async def test_a_conflict_in_the_transaction_names_the_actual_version(
    make_table_source: MakeSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = make_table_source(), make_table_source()
    for source in (first, second):
        source.registry.register(*ALL_TYPES)
    await first.append(ORG, "acme", 0, history("acme", 2))
    await first.append(ORG, "acme", 2, history("acme", 3, start_version=3))
    seen: list[TableTransactionError] = []
    real = second.table_client.submit_transaction

    async def spy(operations: Any, **kwargs: Any) -> Any:
        try:
            return await real(operations, **kwargs)
        except TableTransactionError as error:
            seen.append(error)
            raise

    monkeypatch.setattr(second.table_client, "submit_transaction", spy)

    with pytest.raises(ConcurrencyError) as raised:
        await second.append(ORG, "acme", 2, history("acme", 1, start_version=3))

    assert (raised.value.expected_version, raised.value.actual_version) == (2, 5)
    assert [error.error_code for error in seen] == ["EntityAlreadyExists"]


async def test_a_retry_after_a_lost_response_succeeds_with_one_copy(
    source: AzureTableStorageEventSource, raw_table: TableClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = history("acme", 3)
    calls = commit_then_fail(monkeypatch, source, ServiceResponseError("read timed out"))

    await source.append(ORG, "acme", 0, events)

    assert calls == [1]
    assert len(await raw_rows(raw_table)) == 3
    assert [e.metadata.event_id for e in await source.load(ORG, "acme")] == [e.metadata.event_id for e in events]


async def test_a_server_error_after_commit_is_settled_by_reading_back(
    source: AzureTableStorageEventSource, raw_table: TableClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    await source.append(ORG, "acme", 0, history("acme", 1))
    error = HttpResponseError("service unavailable")
    error.status_code = 503
    commit_then_fail(monkeypatch, source, error)

    await source.append(ORG, "acme", 1, history("acme", 2, start_version=2))

    assert len(await raw_rows(raw_table)) == 3


async def test_a_failure_before_commit_is_raised_and_the_retry_writes_once(
    source: AzureTableStorageEventSource, raw_table: TableClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = history("acme", 2)
    commit_then_fail(monkeypatch, source, ServiceResponseError("connection reset"), commit=False)

    with pytest.raises(ServiceResponseError):
        await source.append(ORG, "acme", 0, events)
    assert await raw_rows(raw_table) == []

    await source.append(ORG, "acme", 0, events)

    assert len(await raw_rows(raw_table)) == 2


async def test_when_the_outcome_cannot_be_checked_the_error_is_raised_and_a_retry_is_idempotent(
    source: AzureTableStorageEventSource, raw_table: TableClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = history("acme", 2)
    commit_then_fail(monkeypatch, source, ServiceResponseError("read timed out"))
    client = source.table_client
    real_query = client.query_entities

    def unreachable(*args: Any, **kwargs: Any) -> Any:
        monkeypatch.setattr(client, "query_entities", real_query)
        raise ServiceResponseError("still down")

    monkeypatch.setattr(client, "query_entities", unreachable)

    with pytest.raises(ServiceResponseError, match="read timed out"):
        await source.append(ORG, "acme", 0, events)

    await source.append(ORG, "acme", 0, events)

    assert len(await raw_rows(raw_table)) == 2


async def test_a_client_error_is_not_taken_for_an_unknown_outcome(
    source: AzureTableStorageEventSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    error = HttpResponseError("bad request")
    error.status_code = 400
    commit_then_fail(monkeypatch, source, error, commit=False)

    with pytest.raises(HttpResponseError, match="bad request"):
        await source.append(ORG, "acme", 0, history("acme", 1))


async def test_appending_after_a_version_the_stream_does_not_have_conflicts(
    source: AzureTableStorageEventSource, raw_table: TableClient
) -> None:
    await source.append(ORG, "acme", 0, history("acme", 2))

    with pytest.raises(ConcurrencyError) as raised:
        await source.append(ORG, "acme", 4, history("acme", 1, start_version=5))

    assert raised.value.actual_version == 2
    assert len(await raw_rows(raw_table)) == 2
