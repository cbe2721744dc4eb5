"""`KeyVaultKeyEncryptionKey`: data keys wrapped by a key in Azure Key Vault (the `keyvault` extra).

The key never leaves the vault: the SDK's `CryptographyClient` wraps with the public half (fetched
once, when the identity may read the key) or asks the vault to wrap, and always asks the vault to
unwrap. The identity needs the `wrapKey` and `unwrapKey` permissions (the "Key Vault Crypto User"
role), and `get` to wrap locally.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from messagehandler.azure_errors import RedactedCauseError, azure_errors, error_code, error_status
from messagehandler.errors import ConfigurationError, ResourceNotFoundError
from messagehandler.extras import requires_extra
from messagehandler.personal.errors import WrongKeyEncryptionKeyError

with requires_extra("keyvault", "the Key Vault key-encryption key", ("azure", "aiohttp")):
    from azure.core.credentials_async import AsyncTokenCredential
    from azure.core.exceptions import HttpResponseError
    from azure.core.exceptions import ResourceNotFoundError as AzureResourceNotFoundError
    from azure.keyvault.keys.crypto import KeyWrapAlgorithm
    from azure.keyvault.keys.crypto.aio import CryptographyClient

DEFAULT_ALGORITHM = KeyWrapAlgorithm.rsa_oaep_256


class KeyVaultKeyEncryptionKey:
    """A key-encryption key in Azure Key Vault, named by its key identifier URL.

    Pin the version (`https://<vault>.vault.azure.net/keys/<name>/<version>`): data keys are unwrapped
    with the key that wrapped them, and `id` (the URL as given) is stored beside each one.
    `client_kwargs` pass through to the SDK's `CryptographyClient` (retry policy, `transport`,
    `connection_verify`, `verify_challenge_resource`, ...).

    Args:
        key_id: the key's identifier URL.
        credential: an async token credential (`azure.identity.aio.DefaultAzureCredential()`); its
            owner closes it.
        algorithm: the RSA key-wrap algorithm (default RSA-OAEP-256).
    """

    def __init__(
        self,
        key_id: str,
        credential: AsyncTokenCredential,
        *,
        algorithm: KeyWrapAlgorithm = DEFAULT_ALGORITHM,
        **client_kwargs: Any,
    ) -> None:
        if not isinstance(key_id, str) or not key_id.lower().startswith("https://") or "/keys/" not in key_id:
            raise ConfigurationError(
                f"{key_id!r} is not a Key Vault key identifier: expected https://<vault>.vault.azure.net/keys/<name>"
                "/<version>"
            )
        try:
            self._client = CryptographyClient(key_id, credential, **client_kwargs)
        except (ValueError, TypeError) as error:
            raise ConfigurationError(f"cannot use Key Vault key {key_id!r}: {error}") from None
        self._id = key_id
        self._algorithm = algorithm
        self._service = f"Key Vault key {key_id!r}"

    @property
    def id(self) -> str:
        return self._id

    def __repr__(self) -> str:
        return f"KeyVaultKeyEncryptionKey({self._id!r})"

    async def wrap(self, key: bytes) -> bytes:
        """Raises `AccessDeniedError`, `ResourceNotFoundError` or `ServiceUnavailableError` as the vault answers."""
        with self._errors("wrap a data key"):
            result = await self._client.wrap_key(self._algorithm, key)
        return bytes(result.encrypted_key)

    async def unwrap(self, wrapped: bytes) -> bytes:
        """Raises `WrongKeyEncryptionKeyError` when the vault says this key did not wrap the bytes."""
        with self._errors("unwrap a data key"):
            try:
                result = await self._client.unwrap_key(self._algorithm, wrapped)
            except HttpResponseError as error:
                if error_status(error) == 400:
                    raise WrongKeyEncryptionKeyError(
                        f"{self._service} cannot unwrap this data key: it was wrapped by another key"
                    ) from None
                raise
        return bytes(result.key)

    async def close(self) -> None:
        await self._client.close()

    async def __aenter__(self) -> KeyVaultKeyEncryptionKey:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @contextlib.contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        with azure_errors(self._service, action=action):
            try:
                yield
            except AzureResourceNotFoundError as error:
                raise ResourceNotFoundError(
                    f"{action} with {self._service} failed: the vault has no such key (check its name and version)",
                    service=self._service,
                    status=404,
                    code=error_code(error),
                ) from RedactedCauseError(error)
