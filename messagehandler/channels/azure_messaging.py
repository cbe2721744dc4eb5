"""What the Service Bus and Event Hubs adapters share: AMQP SDK clients built from settings that hold secrets,
one lifecycle, and one way their failures become channel errors.

Both SDKs take a connection string or a credential; both must be built without a secret ever
reaching an error message, a repr or a log line.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from typing import Any, TypeVar
from urllib.parse import urlparse

from messagehandler.azure_errors import azure_errors, map_azure_error
from messagehandler.channels.errors import CHANNEL_ERRORS, ChannelConfigurationError
from messagehandler.channels.lifecycle import Closeable
from messagehandler.errors import MessageHandlerError
from messagehandler.redaction import credential_secrets, redact

Client = TypeVar("Client")


class AzureMessagingAdapter(Closeable):
    """Name, redacted failures and lifecycle shared by the Service Bus and Event Hubs channels and receivers.

    `target` says what the adapter talks to (`queue 'orders' on ns.servicebus.windows.net`), for
    messages; `secrets` are strings or credential objects, read again at each failure so a rotated
    key is masked too.
    """

    _name: str
    _target: str
    _secret_sources: tuple[object, ...]

    def _init_adapter(self, name: str, target: str, secrets: Iterable[object]) -> None:
        self._name = name
        self._target = target
        self._secret_sources = tuple(secret for secret in secrets if secret)

    @property
    def name(self) -> str:
        return self._name

    @property
    def _secrets(self) -> list[str]:
        return [value for source in self._secret_sources for value in credential_secrets(source)]

    @property
    def _service(self) -> str:
        return f"channel {self._name!r} ({self._target})"

    def _errors(self, action: str) -> contextlib.AbstractContextManager[None]:
        """Maps what the SDK raises in the block to channel errors: unavailable, access denied, not found."""
        return azure_errors(self._service, action=action, secrets=self._secrets, classes=CHANNEL_ERRORS)

    def _failure(self, action: str, error: BaseException) -> MessageHandlerError:
        """The channel error for a failure caught outside an `_errors` block (a background task's)."""
        return map_azure_error(error, self._service, action=action, secrets=self._secrets, classes=CHANNEL_ERRORS)


def build_client(channel: str, service: str, build: Callable[[], Client], secrets: Iterable[object]) -> Client:
    """`build()`, with the SDK's complaints about settings turned into a redacted configuration error."""
    try:
        return build()
    except (ValueError, TypeError) as error:
        values = [value for secret in secrets for value in credential_secrets(secret)]
        raise ChannelConfigurationError(
            f"channel {channel!r}: invalid {service} settings: {redact(str(error), values)}"
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


def amqp_long(value: int) -> dict[str, Any]:
    """`value` typed as an AMQP long for the AMQP clients of azure-servicebus and azure-eventhub.

    Both encode a plain Python int as an AMQP int (32 bits), while the CloudEvents AMQP binding maps
    the Integer type to long. Their encoders take a value tagged with its AMQP type, in this form.
    """
    return {"TYPE": "LONG", "VALUE": value}
