"""Personal data: fields encrypted per data subject, erasure by forgetting keys (crypto-shredding).

Mark fields in the event model (`PersonalData`, `DataSubject`), give the event source a
`PersonalDataSerializer` over a `Keyring` (a key store and a key-encryption key), and call
`keyring.forget(subject)` to erase. Needs the `personal` extra (the `cryptography` package); the
Table Storage key store needs `azure-tables`, the Key Vault key-encryption key `keyvault`
(`messagehandler.personal.table_store.TableKeyStore`, `messagehandler.personal.keyvault.KeyVaultKeyEncryptionKey`).
"""

from messagehandler.events.personal import DataSubject, PersonalData, PersonalFields, personal_fields
from messagehandler.extras import requires_extra

with requires_extra("personal", "personal-data encryption", ("cryptography",)):
    import cryptography  # noqa: F401

from messagehandler.personal.errors import (
    EncryptedEventError,
    InvalidSubjectError,
    KeysNotPreparedError,
    KeyUnwrapError,
    PersonalDataDefinitionError,
    PersonalDataError,
    StoredEventKeyError,
    TamperedDataError,
    UnknownKeyError,
    UnprotectedPersonalDataError,
    WrongKeyEncryptionKeyError,
)
from messagehandler.personal.kek import KeyEncryptionKey, LocalKeyEncryptionKey
from messagehandler.personal.keyring import KeyEntry, Keyring, KeyState
from messagehandler.personal.keys import DataKeyStore, ErasureRecord, StoredKey
from messagehandler.personal.memory_store import InMemoryKeyStore
from messagehandler.personal.serializer import PersonalDataSerializer

__all__ = [
    "DataKeyStore",
    "DataSubject",
    "EncryptedEventError",
    "ErasureRecord",
    "InMemoryKeyStore",
    "InvalidSubjectError",
    "KeyEncryptionKey",
    "KeyEntry",
    "KeyState",
    "KeyUnwrapError",
    "Keyring",
    "KeysNotPreparedError",
    "LocalKeyEncryptionKey",
    "PersonalData",
    "PersonalDataDefinitionError",
    "PersonalDataError",
    "PersonalDataSerializer",
    "PersonalFields",
    "StoredEventKeyError",
    "StoredKey",
    "TamperedDataError",
    "UnknownKeyError",
    "UnprotectedPersonalDataError",
    "WrongKeyEncryptionKeyError",
    "personal_fields",
]
