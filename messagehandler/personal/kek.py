"""Key-encryption keys: what wraps the data keys before they are stored.

Data keys are stored only wrapped, so the key store alone (a table anyone with the storage key can
read) reveals nothing. The key-encryption key (KEK) lives elsewhere: in Azure Key Vault in
production (`messagehandler.personal.keyvault`), or in the process for development and tests
(`LocalKeyEncryptionKey`). Anything that can wrap and unwrap 32 bytes can be one.
"""

from __future__ import annotations

import base64
import binascii
import os
from typing import Protocol, runtime_checkable

from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

from messagehandler.errors import ConfigurationError
from messagehandler.personal.errors import WrongKeyEncryptionKeyError


@runtime_checkable
class KeyEncryptionKey(Protocol):
    """Wraps data keys for storage and unwraps them for use.

    `id` names the KEK; it is stored beside every data key it wraps, so a keyring given another KEK
    says so instead of failing obscurely. `unwrap` raises `WrongKeyEncryptionKeyError` when the bytes
    were not wrapped by this KEK, and a `ServiceError` when the KEK's service failed.
    """

    @property
    def id(self) -> str: ...

    async def wrap(self, key: bytes) -> bytes: ...

    async def unwrap(self, wrapped: bytes) -> bytes: ...


class LocalKeyEncryptionKey:
    """A KEK held in the process (AES key wrap, RFC 3394): for development, tests and single-machine use.

    Keep its bytes out of the code and the event store (an environment variable, a secrets file):
    whoever has them and the key table can read every marked field. `generate()` makes a new one,
    `from_base64(text)` reads one; the key never appears in a repr.
    """

    def __init__(self, key: bytes, *, id: str = "local") -> None:
        if not isinstance(key, bytes) or len(key) not in (16, 24, 32):
            raise ConfigurationError("a local key-encryption key is 16, 24 or 32 bytes (32 recommended)")
        if not isinstance(id, str) or not id:
            raise ConfigurationError("a key-encryption key needs a non-empty id")
        self._key = key
        self._id = id

    @classmethod
    def generate(cls, *, id: str = "local") -> LocalKeyEncryptionKey:
        return cls(os.urandom(32), id=id)

    @classmethod
    def from_base64(cls, text: str, *, id: str = "local") -> LocalKeyEncryptionKey:
        """Raises `ConfigurationError` (without echoing the text) unless it is base64 of 16, 24 or 32 bytes."""
        try:
            key = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise ConfigurationError(
                "the local key-encryption key is not valid base64 (its value is not shown)"
            ) from None
        return cls(key, id=id)

    def to_base64(self) -> str:
        return base64.b64encode(self._key).decode("ascii")

    @property
    def id(self) -> str:
        return self._id

    async def wrap(self, key: bytes) -> bytes:
        return aes_key_wrap(self._key, key)

    async def unwrap(self, wrapped: bytes) -> bytes:
        try:
            return aes_key_unwrap(self._key, wrapped)
        except (InvalidUnwrap, ValueError):
            raise WrongKeyEncryptionKeyError(
                f"key-encryption key {self._id!r} cannot unwrap this data key: it was wrapped by another key"
            ) from None

    def __repr__(self) -> str:
        return f"LocalKeyEncryptionKey(id={self._id!r})"
