"""What the Service Bus and Event Hubs adapters share: AMQP SDK clients built from settings that hold secrets.

Both SDKs take a connection string or a credential; both must be built without a secret ever
reaching an error message, a repr or a log line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar
from urllib.parse import urlparse

from azure.core.credentials import AzureNamedKeyCredential, AzureSasCredential

from messagehandler.channels.errors import ChannelConfigurationError
from messagehandler.redaction import redact

Client = TypeVar("Client")


def build_client(channel: str, service: str, build: Callable[[], Client], secrets: Iterable[str | None]) -> Client:
    """`build()`, with the SDK's complaints about settings turned into a redacted configuration error."""
    try:
        return build()
    except (ValueError, TypeError) as error:
        raise ChannelConfigurationError(
            f"channel {channel!r}: invalid {service} settings: {redact(str(error), secrets)}"
        ) from None


def connection_settings(connection_string: str) -> dict[str, str]:
    """The `Key=value;` pairs of a connection string, keys lower-cased."""
    pairs = (part.partition("=") for part in connection_string.strip().split(";") if part)
    return {key.strip().lower(): value for key, _, value in pairs}


def connection_secrets(connection_string: str) -> tuple[str, ...]:
    settings = connection_settings(connection_string)
    found = (settings.get("sharedaccesskey"), settings.get("sharedaccesssignature"), connection_string)
    return tuple(secret for secret in found if secret)


def namespace_of(connection_string: str) -> str:
    """The namespace host of a connection string's `Endpoint`, for messages and reprs."""
    endpoint = connection_settings(connection_string).get("endpoint", "")
    return urlparse(endpoint).hostname or endpoint


def credential_secrets(credential: object) -> tuple[str, ...]:
    if isinstance(credential, AzureNamedKeyCredential):
        return (credential.named_key.key,)
    if isinstance(credential, AzureSasCredential):
        return (credential.signature,)
    return ()
