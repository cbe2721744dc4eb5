"""The Key Vault key-encryption key, through the real SDK, against a local vault speaking its REST API over TLS.

A live test runs against a real vault when `MESSAGEHANDLER_TEST_KEYVAULT_KEY_ID` names a key (RSA,
with wrapKey/unwrapKey) that `DefaultAzureCredential` may use.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest

from messagehandler.errors import AccessDeniedError, ConfigurationError, ResourceNotFoundError, ServiceUnavailableError
from messagehandler.personal import Keyring, KeyUnwrapError, PersonalDataSerializer, WrongKeyEncryptionKeyError
from messagehandler.personal.keyvault import KeyVaultKeyEncryptionKey
from messagehandler.testing import recorded
from tests.personal.events import CustomerRegistered
from tests.support.keyvault import FakeCredential, LocalKeyVault

if TYPE_CHECKING:
    from messagehandler.testing.azurite import AzuriteProcess


@pytest.fixture
async def vault() -> AsyncIterator[LocalKeyVault]:
    vault = await LocalKeyVault().start()
    yield vault
    await vault.stop()


def kek(vault: LocalKeyVault, key_id: str, credential: FakeCredential | None = None) -> KeyVaultKeyEncryptionKey:
    return KeyVaultKeyEncryptionKey(
        key_id,
        credential or FakeCredential(),
        connection_verify=vault.ca_file,
        verify_challenge_resource=False,
        retry_total=0,
    )


async def test_wrap_and_unwrap_go_through_the_challenge_and_the_vault(vault: LocalKeyVault) -> None:
    credential = FakeCredential()
    key_id = vault.create_key("kek")
    async with kek(vault, key_id, credential) as wrapping:
        wrapped = await wrapping.wrap(b"k" * 32)
        assert await wrapping.unwrap(wrapped) == b"k" * 32

    assert len(wrapped) == 256
    assert wrapping.id == key_id
    first = vault.requests[0]
    assert (first.method, first.authorization) == ("GET", None)  # the challenge round
    assert credential.scopes == [("https://vault.azure.net/.default",)]
    operations = [(r.method, r.path.rsplit("/", 1)[-1]) for r in vault.requests if r.authorization]
    assert operations[-1] == ("POST", "unwrapkey")


async def test_without_permission_to_read_the_key_the_vault_wraps_remotely(vault: LocalKeyVault) -> None:
    vault.deny_get = True
    async with kek(vault, vault.create_key("kek")) as wrapping:
        wrapped = await wrapping.wrap(b"k" * 32)
        assert await wrapping.unwrap(wrapped) == b"k" * 32

    assert any(r.path.endswith("/wrapkey") for r in vault.requests)


async def test_bytes_wrapped_by_another_key_are_a_wrong_key_error(vault: LocalKeyVault) -> None:
    async with kek(vault, vault.create_key("one")) as one, kek(vault, vault.create_key("two")) as two:
        wrapped = await one.wrap(b"k" * 32)
        with pytest.raises(WrongKeyEncryptionKeyError, match="wrapped by another key"):
            await two.unwrap(wrapped)


async def test_a_missing_key_and_a_refused_token_are_configuration_errors(vault: LocalKeyVault) -> None:
    vault.create_key("kek")
    async with kek(vault, f"{vault.url}/keys/nope/0123") as missing:
        with pytest.raises(ResourceNotFoundError, match="no such key"):
            await missing.unwrap(b"x" * 256)
    async with kek(vault, f"{vault.url}/keys/kek", FakeCredential("wrong-token")) as refused:
        with pytest.raises(AccessDeniedError) as raised:
            await refused.unwrap(b"x" * 256)
    assert "wrong-token" not in str(raised.value)


async def test_a_vault_that_cannot_be_reached_is_unavailable(vault: LocalKeyVault) -> None:
    key_id = vault.create_key("kek")
    await vault.stop_serving()
    async with kek(vault, key_id) as wrapping:
        with pytest.raises(ServiceUnavailableError):
            await wrapping.wrap(b"k" * 32)


def test_a_key_id_that_is_not_a_vault_url_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="not a Key Vault key identifier"):
        KeyVaultKeyEncryptionKey("http://vault/keys/x", FakeCredential())


@pytest.mark.azurite
async def test_data_keys_wrapped_in_the_vault_and_stored_on_azurite(
    vault: LocalKeyVault, azurite: AzuriteProcess, table_name: str
) -> None:
    from messagehandler.personal.table_store import TableKeyStore

    store = TableKeyStore.from_connection_string(azurite.connection_string, table_name)
    key_id = vault.create_key("kek")
    events = recorded("Customer", "c-1", [CustomerRegistered(name="Ann Smith")])
    async with Keyring(store, kek(vault, key_id)) as ring:
        writer = PersonalDataSerializer(ring)
        await writer.prepare_to_write(events)
        body = writer.serialize(events[0])
    other = kek(vault, vault.create_key("other"))
    async with Keyring(TableKeyStore.from_connection_string(azurite.connection_string, table_name), other) as wrong:
        reader = PersonalDataSerializer(wrong)
        await reader.prepare_to_read([(events[0].metadata, body)])
        with pytest.raises(KeyUnwrapError, match=r"Customer/c-1.*version 1.*wrapped by key-encryption key"):
            reader.deserialize(body, events[0].metadata)
    async with Keyring(
        TableKeyStore.from_connection_string(azurite.connection_string, table_name), kek(vault, key_id)
    ) as again:
        reader = PersonalDataSerializer(again)
        await reader.prepare_to_read([(events[0].metadata, body)])
        assert reader.deserialize(body, events[0].metadata) == events[0]
        await again.store.table_client.delete_table()  # type: ignore[attr-defined]


LIVE_KEY = os.environ.get("MESSAGEHANDLER_TEST_KEYVAULT_KEY_ID")


@pytest.mark.live
@pytest.mark.skipif(not LIVE_KEY, reason="set MESSAGEHANDLER_TEST_KEYVAULT_KEY_ID to a Key Vault key id to run")
async def test_a_real_vault_wraps_and_unwraps() -> None:
    from azure.identity.aio import DefaultAzureCredential

    assert LIVE_KEY is not None
    async with DefaultAzureCredential() as credential, KeyVaultKeyEncryptionKey(LIVE_KEY, credential) as wrapping:
        wrapped = await wrapping.wrap(b"k" * 32)
        assert await wrapping.unwrap(wrapped) == b"k" * 32
