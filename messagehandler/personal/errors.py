"""The errors of personal-data protection: every one about a stored event names its stream and version.

A key that is unknown, a ciphertext that was changed or moved, a data key wrapped by another
key-encryption key: each is a typed error naming where it was met, never garbage and never a
plaintext guess. They are `SerializationError`s too, so a bulk reader's bad-row policy (and the
processing host's poison handling) treats them like any event that cannot be decoded.

    PersonalDataError
    ├── PersonalDataDefinitionError     a marker is misplaced or an erased value does not fit (fix the class)
    ├── UnprotectedPersonalDataError    marked events given to a serializer without keys (fix the configuration)
    ├── InvalidSubjectError             a data subject id that cannot name a key
    ├── KeysNotPreparedError            (de)serialised without the async preparation step (fix the code)
    ├── WrongKeyEncryptionKeyError      a key-encryption key could not unwrap a data key
    └── StoredEventKeyError             about one stored event; also a SerializationError
        ├── EncryptedEventError         read without keys
        ├── UnknownKeyError             the event names a key the key store does not know
        ├── KeyUnwrapError              its data key is wrapped by another key-encryption key
        └── TamperedDataError           a ciphertext was changed, or moved from another event or field
"""

from __future__ import annotations

from messagehandler.errors import Remedy
from messagehandler.events.personal import (
    EncryptedEventError,
    PersonalDataDefinitionError,
    PersonalDataError,
    StoredEventKeyError,
    UnprotectedPersonalDataError,
)
from messagehandler.eventsource.keys import InvalidKeyError


class InvalidSubjectError(PersonalDataError, InvalidKeyError):
    """A data subject id that cannot name a data key (empty, not a string, or not a valid Table Storage key)."""


class KeysNotPreparedError(PersonalDataError):
    """A serializer was asked to encrypt or decrypt with keys nobody fetched first.

    Readers and writers call `prepare_to_write` / `prepare_to_read` (async) before the sync
    `serialize` / `deserialize`; an event source or channel that skips it is a bug, and this error
    says so instead of writing plaintext or returning garbage.
    """

    remedy = Remedy.FIX_CODE


class WrongKeyEncryptionKeyError(PersonalDataError):
    """A key-encryption key could not unwrap a data key: it is not the key that wrapped it."""

    remedy = Remedy.FIX_CONFIGURATION


class UnknownKeyError(StoredEventKeyError):
    """A stored event names a data key that the key store has never held."""


class KeyUnwrapError(StoredEventKeyError):
    """The data key of a stored event could not be unwrapped with the keyring's key-encryption key."""

    remedy = Remedy.FIX_CONFIGURATION


class TamperedDataError(StoredEventKeyError):
    """A sealed value does not decrypt with its key: it was changed, or moved from another event or field."""


__all__ = [
    "EncryptedEventError",
    "InvalidSubjectError",
    "KeyUnwrapError",
    "KeysNotPreparedError",
    "PersonalDataDefinitionError",
    "PersonalDataError",
    "StoredEventKeyError",
    "TamperedDataError",
    "UnknownKeyError",
    "UnprotectedPersonalDataError",
    "WrongKeyEncryptionKeyError",
]
