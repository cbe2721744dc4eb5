"""`--keys-table` and friends: the operator commands open sealed personal data when given the keys.

Without them the commands print and restore bodies as stored, sealed values included (ciphertext,
never plaintext). With the key table and a key-encryption key (a Key Vault key used with
`DefaultAzureCredential`, or a local one from `$MESSAGEHANDLER_LOCAL_KEK`, never an option, since
options show in the process list) they open them, and print erased values for forgotten subjects.
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from messagehandler.errors import ConfigurationError

if TYPE_CHECKING:
    from messagehandler.cli.settings import Redactor, StoreSettings
    from messagehandler.events.serialization import EventSerializer
    from messagehandler.personal import Keyring

KEYS_TABLE_ENV = "MESSAGEHANDLER_KEYS_TABLE"
KEY_VAULT_KEY_ENV = "MESSAGEHANDLER_KEY_VAULT_KEY"
LOCAL_KEK_ENV = "MESSAGEHANDLER_LOCAL_KEK"


def add_key_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("personal data (optional: open sealed values)")
    group.add_argument("--keys-table", help=f"table of the wrapped data keys (default: ${KEYS_TABLE_ENV})")
    group.add_argument(
        "--key-vault-key",
        help=f"Key Vault key that wraps them (default: ${KEY_VAULT_KEY_ENV}; else a local key in ${LOCAL_KEK_ENV})",
    )


def open_keyring(args: argparse.Namespace, settings: StoreSettings, redact: Redactor) -> Keyring | None:
    """The keyring the options name, or None when no key table is given.

    Raises:
        ConfigurationError: a key table without a key-encryption key, or a malformed local key.
    """
    table = getattr(args, "keys_table", None) or os.environ.get(KEYS_TABLE_ENV)
    if not table:
        return None
    from messagehandler.personal import Keyring, LocalKeyEncryptionKey
    from messagehandler.personal.kek import KeyEncryptionKey
    from messagehandler.personal.table_store import TableKeyStore

    vault_key = getattr(args, "key_vault_key", None) or os.environ.get(KEY_VAULT_KEY_ENV)
    local = os.environ.get(LOCAL_KEK_ENV)
    redact.add(local)
    kek: KeyEncryptionKey
    if vault_key:
        from azure.identity.aio import DefaultAzureCredential

        from messagehandler.personal.keyvault import KeyVaultKeyEncryptionKey

        kek = KeyVaultKeyEncryptionKey(vault_key, DefaultAzureCredential())
    elif local:
        kek = LocalKeyEncryptionKey.from_base64(local)
    else:
        raise ConfigurationError(
            f"--keys-table needs the key-encryption key: pass --key-vault-key or set ${LOCAL_KEK_ENV}"
        )
    store = TableKeyStore.from_connection_string(settings.connection_string, table, create_table=False)
    return Keyring(store, kek)


def opening(serializer: EventSerializer, keyring: Keyring | None) -> EventSerializer:
    """`serializer`, opening sealed values first when there is a keyring."""
    if keyring is None:
        return serializer
    from messagehandler.personal import PersonalDataSerializer

    return PersonalDataSerializer(keyring, serializer)
