"""What the Storage Queue channel and its receiver share: how to reach the queue, and how messages are encoded.

The connection string or credential lives only inside `QueueClients`; everything that can be
printed (`repr`, errors, logs) names the account host and queue, never the key or SAS.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import enum
import re
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from messagehandler.azure_errors import azure_errors
from messagehandler.channels.envelope import CloudEvent
from messagehandler.channels.errors import (
    CHANNEL_ERRORS,
    ChannelConfigurationError,
    ChannelNotFoundError,
    MalformedEnvelopeError,
)
from messagehandler.extras import requires_extra
from messagehandler.redaction import credential_secrets, redact

with requires_extra("storage-queue", "the Storage Queue channel", ("azure.storage.queue",)):
    from azure.core.exceptions import ResourceExistsError
    from azure.storage.queue.aio import QueueClient
    from yarl import URL

if TYPE_CHECKING:
    from azure.core.credentials import AzureNamedKeyCredential, AzureSasCredential
    from azure.core.credentials_async import AsyncTokenCredential

    QueueCredential = str | AzureNamedKeyCredential | AzureSasCredential | AsyncTokenCredential | None

MAX_MESSAGE_TEXT_BYTES = 64 * 1024
POISON_SUFFIX = "-poison"
_QUEUE_NAME = re.compile(r"^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$")


class QueueEncoding(enum.Enum):
    """How an envelope's JSON becomes the message text.

    BASE64 (default) is what Azure Functions' queue trigger and most tools expect, and keeps the
    XML transport free of escaping; it costs a third of the 64 KiB limit. TEXT stores the JSON as
    it is, for consumers that read raw text.
    """

    BASE64 = "base64"
    TEXT = "text"

    @property
    def max_envelope_bytes(self) -> int:
        """The largest envelope (UTF-8 JSON) whose message text stays within 64 KiB."""
        if self is QueueEncoding.BASE64:
            return MAX_MESSAGE_TEXT_BYTES // 4 * 3
        return MAX_MESSAGE_TEXT_BYTES

    def content(self, envelope: CloudEvent) -> str:
        """The message text of an envelope."""
        if self is QueueEncoding.BASE64:
            return base64.b64encode(envelope.to_bytes()).decode("ascii")
        return envelope.to_json()


def message_bytes(text: str | None) -> bytes:
    """The envelope bytes a message text holds, whichever encoding wrote it.

    Decoded per message by the receiver rather than by an SDK decode policy, which decodes a whole
    page at once and fails all of it for one bad message. A JSON object is taken as it is (never
    valid base64, since `{` is not in its alphabet); anything else must be strict base64.
    """
    stripped = (text or "").strip()
    if stripped.startswith("{"):
        return stripped.encode("utf-8")
    try:
        return base64.b64decode(stripped, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedEnvelopeError("the message text is neither base64 nor a JSON object") from None


def validate_queue_name(channel: str, queue_name: str) -> None:
    """Storage's naming rules, checked here so a typo fails at start-up, not on the first publish."""
    if not _QUEUE_NAME.match(queue_name):
        raise ChannelConfigurationError(
            f"channel {channel!r}: {queue_name!r} is not a valid queue name "
            "(3-63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit)"
        )


class QueueClients:
    """Builds aio `QueueClient`s for one account, and creates queues once when asked to."""

    def __init__(
        self,
        make: Callable[[str], QueueClient],
        *,
        channel: str,
        account: str,
        secrets: Iterable[object],
        encoding: QueueEncoding,
        create_queues: bool,
    ) -> None:
        self._make = make
        self.channel = channel
        self.account = account
        self._secrets = list(secrets)
        self.encoding = encoding
        self.create_queues = create_queues
        self._created: set[str] = set()
        self._lock = asyncio.Lock()

    @property
    def secrets(self) -> list[str]:
        """Every value to mask, read now: a credential object's key may have been rotated since."""
        return _secret_values(self._secrets)

    @classmethod
    def from_connection_string(
        cls,
        connection_string: str,
        queue_name: str,
        *,
        channel: str,
        encoding: QueueEncoding,
        create_queues: bool,
        client_options: dict[str, Any],
    ) -> QueueClients:
        options = _client_options(client_options)

        def make(queue_name: str) -> QueueClient:
            return QueueClient.from_connection_string(connection_string, queue_name, **options)

        secrets = [connection_string, *_connection_string_secrets(connection_string)]
        problem = "the Storage connection string is malformed"
        return cls._checked(make, queue_name, problem, channel, secrets, encoding, create_queues)

    @classmethod
    def from_account_url(
        cls,
        account_url: str,
        queue_name: str,
        credential: QueueCredential,
        *,
        channel: str,
        encoding: QueueEncoding,
        create_queues: bool,
        client_options: dict[str, Any],
    ) -> QueueClients:
        options = _client_options(client_options)
        parsed = URL(account_url)
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ChannelConfigurationError(f"channel {channel!r}: account URL must be an absolute http(s) URL")

        def make(queue_name: str) -> QueueClient:
            return QueueClient(account_url, queue_name, credential, **options)

        secrets = [account_url, parsed.query_string, credential]
        problem = "cannot use this account URL and credential"
        return cls._checked(make, queue_name, problem, channel, secrets, encoding, create_queues)

    @classmethod
    def _checked(
        cls,
        make: Callable[[str], QueueClient],
        queue_name: str,
        problem: str,
        channel: str,
        secrets: Sequence[object],
        encoding: QueueEncoding,
        create_queues: bool,
    ) -> QueueClients:
        """Build one client now, so a bad connection string fails at start-up rather than on first use."""
        try:
            probe = make(queue_name)
        except (ValueError, TypeError) as error:
            raise ChannelConfigurationError(
                f"channel {channel!r}: {problem} ({redact(str(error), _secret_values(secrets))})"
            ) from None
        return cls(
            make,
            channel=channel,
            account=_account(probe),
            secrets=secrets,
            encoding=encoding,
            create_queues=create_queues,
        )

    def client(self, queue_name: str) -> QueueClient:
        return self._make(queue_name)

    def errors(self, queue_name: str, action: str) -> contextlib.AbstractContextManager[None]:
        """Maps what the SDK raises in the block to channel errors naming the channel, queue and account."""
        service = f"channel {self.channel!r} (queue {queue_name!r} at {self.account})"

        def missing() -> ChannelNotFoundError:
            return ChannelNotFoundError(
                f"{action} on {service} failed: the queue does not exist (create it, or pass create_queue=True)",
                service=service,
                status=404,
                code="QueueNotFound",
            )

        return azure_errors(service, action=action, secrets=self.secrets, classes=CHANNEL_ERRORS, not_found=missing)

    async def ensure_queue(self, client: QueueClient) -> None:
        if not self.create_queues or client.queue_name in self._created:
            return
        async with self._lock:
            if client.queue_name in self._created:
                return
            with contextlib.suppress(ResourceExistsError):
                await client.create_queue()
            self._created.add(client.queue_name)


def _client_options(client_options: dict[str, Any]) -> dict[str, Any]:
    """The SDK options, without message encode or decode policies: messages are encoded and decoded here."""
    options = dict(client_options)
    options["message_encode_policy"] = None
    options["message_decode_policy"] = None
    return options


def _secret_values(secrets: Iterable[object]) -> list[str]:
    return [value for secret in secrets for value in credential_secrets(secret)]


def _connection_string_secrets(connection_string: str) -> list[str]:
    secrets = []
    for part in connection_string.split(";"):
        key, _, value = part.partition("=")
        if key.strip().lower() in ("accountkey", "sharedaccesssignature") and value:
            secrets.append(value)
    return secrets


def _account(client: QueueClient) -> str:
    """Account name and host: enough to tell accounts apart in a log, never a credential."""
    return f"{client.account_name} at {client.scheme}://{client.primary_hostname}"
