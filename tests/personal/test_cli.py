"""The operator command prints sealed values as stored, opens them with the keys, and erased values once forgotten."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from messagehandler import AggregateRepository, EventTypeRegistry
from messagehandler.cli.main import main
from messagehandler.personal import Keyring, LocalKeyEncryptionKey, PersonalDataSerializer
from tests.personal.events import CUSTOMER_TYPES, Customer

if TYPE_CHECKING:
    from messagehandler.testing.azurite import AzuriteProcess

pytestmark = pytest.mark.azurite


class Store:
    def __init__(self, conn: str) -> None:
        suffix = uuid.uuid4().hex[:10]
        self.conn = conn
        self.events = f"cli{suffix}"
        self.keys = f"clikeys{suffix}"
        self.kek = LocalKeyEncryptionKey.generate()

    def keyring(self) -> Keyring:
        from messagehandler.personal.table_store import TableKeyStore

        return Keyring(TableKeyStore.from_connection_string(self.conn, self.keys), self.kek)


@pytest.fixture
async def store(azurite: AzuriteProcess) -> AsyncIterator[Store]:
    from azure.data.tables.aio import TableServiceClient

    from messagehandler.eventsource.azure_tables import AzureTableStorageEventSource

    store = Store(azurite.connection_string)
    async with store.keyring() as keyring:
        serializer = PersonalDataSerializer(keyring, registry=EventTypeRegistry(CUSTOMER_TYPES))
        async with AzureTableStorageEventSource.from_connection_string(
            store.conn, store.events, serializer=serializer
        ) as source:
            repository = AggregateRepository(source)
            customer = Customer("c-1")
            customer.register("Ann Smith", "ann@example.com")
            repository.add(customer)
            await repository.flush()
    yield store
    async with TableServiceClient.from_connection_string(store.conn) as service:
        for table in (store.events, store.keys):
            await service.delete_table(table)


def events(
    store: Store, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *extra: str
) -> list[dict[str, object]]:
    monkeypatch.setenv("MESSAGEHANDLER_CONNECTION_STRING", store.conn)
    monkeypatch.setenv("MESSAGEHANDLER_TABLE", store.events)
    monkeypatch.setenv("MESSAGEHANDLER_LOCAL_KEK", store.kek.to_base64())
    code = main(["events", "Customer", "c-1", "--no-progress", *extra])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert store.kek.to_base64() not in out + err
    return [json.loads(line) for line in out.splitlines()]


def forget(store: Store) -> None:
    async def run() -> None:
        async with store.keyring() as keyring:
            await keyring.forget("c-1", who="dpo")

    asyncio.run(run())


def test_without_keys_the_command_prints_ciphertext(
    store: Store, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    [line] = events(store, capsys, monkeypatch)

    assert "Ann Smith" not in json.dumps(line)
    assert line["encryption_key_id"] == "c-1#1"
    assert set(line["body"]["name"]) == {"$personal", "key", "erased"}  # type: ignore[index]


def test_with_the_keys_it_prints_values_and_after_forget_erased_values(
    store: Store, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    [opened] = events(store, capsys, monkeypatch, "--keys-table", store.keys)
    forget(store)
    [erased] = events(store, capsys, monkeypatch, "--keys-table", store.keys)

    assert opened["body"]["name"] == "Ann Smith"  # type: ignore[index]
    assert (erased["body"]["name"], erased["body"]["email"]) == ("(erased)", None)  # type: ignore[index]


def test_the_cache_holds_sealed_values_and_prints_them_opened_with_the_keys(
    store: Store, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MESSAGEHANDLER_CONNECTION_STRING", store.conn)
    monkeypatch.setenv("MESSAGEHANDLER_TABLE", store.events)
    assert main(["replicate", "Customer", "--cache", str(tmp_path / "cache"), "--no-progress"]) == 0
    capsys.readouterr()

    [sealed] = events(store, capsys, monkeypatch, "--cache", str(tmp_path / "cache"))
    [opened] = events(store, capsys, monkeypatch, "--cache", str(tmp_path / "cache"), "--keys-table", store.keys)

    assert "Ann Smith" not in json.dumps(sealed)
    assert opened["body"]["name"] == "Ann Smith"  # type: ignore[index]


def test_a_key_table_without_a_key_encryption_key_is_a_configuration_error(
    store: Store, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MESSAGEHANDLER_CONNECTION_STRING", store.conn)
    monkeypatch.setenv("MESSAGEHANDLER_TABLE", store.events)
    monkeypatch.delenv("MESSAGEHANDLER_LOCAL_KEK", raising=False)

    code = main(["events", "Customer", "c-1", "--keys-table", store.keys])

    assert code == 2
    assert "MESSAGEHANDLER_LOCAL_KEK" in capsys.readouterr().err
