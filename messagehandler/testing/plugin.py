"""The pytest plugin of messagehandler (entry point `pytest11`): a private Azurite and a fresh table per test.

Installed with the package, so an application's tests just ask for the fixtures:

    async def test_orders_are_stored(azurite_table: AzuriteTable) -> None:
        async with AzureTableStorageEventSource.from_connection_string(
            azurite_table.connection_string, azurite_table.name
        ) as source:
            ...

`azurite` starts one Azurite per test session (table, queue and blob services on free ports, in
memory) and stops it at the end; `azurite_table` names a table no other test uses and deletes it after
the test. Azurite is found as `messagehandler.testing.azurite.find_azurite` describes, looking in the
project's root first. This module imports nothing optional, because pytest loads it in every session.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from messagehandler.testing.azurite import AzuriteProcess, running_azurite


@dataclass(frozen=True)
class AzuriteTable:
    """A table name of this test's own on the session's Azurite; the table exists once something creates it."""

    name: str
    connection_string: str
    azurite: AzuriteProcess


@pytest.fixture(scope="session")
def azurite(pytestconfig: pytest.Config) -> Iterator[AzuriteProcess]:
    """A private Azurite for the test session: `azurite.connection_string` reaches its tables, queues and blobs."""
    root = pytestconfig.rootpath
    with running_azurite(search=[root, root.parent]) as process:
        yield process


@pytest.fixture
def azurite_table(azurite: AzuriteProcess) -> Iterator[AzuriteTable]:
    """A fresh table name for this test, deleted (when it was created) after the test."""
    table = AzuriteTable(f"t{uuid.uuid4().hex[:24]}", azurite.connection_string, azurite)
    yield table
    _delete_table(table)


def _delete_table(table: AzuriteTable) -> None:
    from messagehandler.errors import MissingExtraError

    try:
        from azure.data.tables import TableServiceClient
    except ImportError as error:
        raise MissingExtraError("the azurite_table fixture", "azure-tables", error.name) from error
    with TableServiceClient.from_connection_string(table.connection_string) as service:
        service.delete_table(table.name)
