"""The operator command prints sealed values as stored, opens them with the keys, and erased values once forgotten."""

from __future__ import annotations

import asyncio
import functools
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from messagehandler import AggregateRepository, EventTypeRegistry
from messagehandler.cli.main import main
from messagehandler.personal import Keyring, LocalKeyEncryptionKey, PersonalDataSerializer
from messagehandler.search import SqliteSearchIndex
from tests.personal.events import CUSTOMER_TYPES, Customer, CustomerCard
from tests.support.keyvault import FakeCredential, LocalKeyVault

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


async def register_ann(store: Store, keyring: Keyring) -> None:
    """Customer c-1, Ann Smith, stored with her data key from `keyring`."""
    from messagehandler.eventsource.azure_tables import AzureTableStorageEventSource

    serializer = PersonalDataSerializer(keyring, registry=EventTypeRegistry(CUSTOMER_TYPES))
    async with AzureTableStorageEventSource.from_connection_string(
        store.conn, store.events, serializer=serializer
    ) as source:
        repository = AggregateRepository(source)
        customer = Customer("c-1")
        customer.register("Ann Smith", "ann@example.com")
        repository.add(customer)
        await repository.flush()


@pytest.fixture
async def store(azurite: AzuriteProcess) -> AsyncIterator[Store]:
    from azure.data.tables.aio import TableServiceClient

    store = Store(azurite.connection_string)
    async with store.keyring() as keyring:
        await register_ann(store, keyring)
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


def restore(store: Store, capsys: pytest.CaptureFixture[str], index: Path, *extra: str) -> tuple[int, str]:
    code = main(
        [
            "restore",
            "Customer",
            "--projection",
            "tests.personal.events:CustomerCardProjection",
            "--index",
            str(index),
            "--no-progress",
            *extra,
        ]
    )
    out, err = capsys.readouterr()
    assert store.kek.to_base64() not in out + err
    return code, out + err


async def card(index: Path) -> CustomerCard | None:
    async with SqliteSearchIndex(CustomerCard, index) as opened:
        return await opened.get("c-1")


def test_restore_with_the_keys_writes_values_and_after_forget_erased_values(
    store: Store, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MESSAGEHANDLER_CONNECTION_STRING", store.conn)
    monkeypatch.setenv("MESSAGEHANDLER_TABLE", store.events)
    monkeypatch.setenv("MESSAGEHANDLER_LOCAL_KEK", store.kek.to_base64())

    code, said = restore(store, capsys, tmp_path / "before.db", "--keys-table", store.keys)
    assert code == 0, said
    assert asyncio.run(card(tmp_path / "before.db")) == CustomerCard(name="Ann Smith", email="ann@example.com")

    forget(store)
    code, said = restore(store, capsys, tmp_path / "after.db", "--keys-table", store.keys)
    assert code == 0, said
    assert asyncio.run(card(tmp_path / "after.db")) == CustomerCard(name="(erased)", email=None)
    data = (tmp_path / "after.db").read_bytes()
    assert b"Ann Smith" not in data
    assert b"ann@example.com" not in data


def test_restore_without_the_keys_is_a_typed_error_and_writes_no_plaintext(
    store: Store, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MESSAGEHANDLER_CONNECTION_STRING", store.conn)
    monkeypatch.setenv("MESSAGEHANDLER_TABLE", store.events)
    monkeypatch.delenv("MESSAGEHANDLER_KEYS_TABLE", raising=False)

    code, said = restore(store, capsys, tmp_path / "sealed.db")

    assert code != 0
    assert "Customer/c-1" in said
    assert "encrypted" in said
    assert "--keys-table" in said
    assert "Ann Smith" not in said
    index = tmp_path / "sealed.db"
    assert not index.exists() or b"Ann Smith" not in index.read_bytes()


@pytest.fixture
async def vault() -> AsyncIterator[LocalKeyVault]:
    vault = await LocalKeyVault().start()
    yield vault
    await vault.stop()


async def test_restore_and_events_open_values_with_a_key_vault_key(
    azurite: AzuriteProcess,
    vault: LocalKeyVault,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """`--key-vault-key` goes to the vault with `DefaultAzureCredential`, here a test credential for the local vault.

    The key-encryption key the command builds is the real one through the real SDK; the test only adds
    what the local vault needs and a real one does not (trust its certificate, accept its challenge
    resource on 127.0.0.1). The vault serves on this test's loop, so the commands run in a thread.
    """
    import azure.identity.aio

    from messagehandler.personal import keyvault
    from messagehandler.personal.keyvault import KeyVaultKeyEncryptionKey

    key_id = vault.create_key("cli-kek")
    store = Store(azurite.connection_string)

    from messagehandler.personal.table_store import TableKeyStore

    local = {"connection_verify": vault.ca_file, "verify_challenge_resource": False}
    kek = KeyVaultKeyEncryptionKey(key_id, FakeCredential(), **local)
    async with Keyring(TableKeyStore.from_connection_string(store.conn, store.keys), kek) as keyring:
        await register_ann(store, keyring)
    monkeypatch.setattr(azure.identity.aio, "DefaultAzureCredential", FakeCredential)
    monkeypatch.setattr(keyvault, "KeyVaultKeyEncryptionKey", functools.partial(KeyVaultKeyEncryptionKey, **local))
    monkeypatch.setenv("MESSAGEHANDLER_CONNECTION_STRING", store.conn)
    monkeypatch.setenv("MESSAGEHANDLER_TABLE", store.events)
    monkeypatch.delenv("MESSAGEHANDLER_LOCAL_KEK", raising=False)
    vault.requests.clear()

    options = ("--keys-table", store.keys, "--key-vault-key", key_id)
    code, said = await asyncio.to_thread(restore, store, capsys, tmp_path / "vault.db", *options)
    assert code == 0, said
    assert await card(tmp_path / "vault.db") == CustomerCard(name="Ann Smith", email="ann@example.com")
    assert any(r.path.endswith("/unwrapkey") for r in vault.requests)
    [line] = await asyncio.to_thread(events, store, capsys, monkeypatch, *options)
    assert line["body"]["name"] == "Ann Smith"  # type: ignore[index]
