"""Event Grid channel: envelopes pushed to a custom topic or domain, in either Event Grid schema.

Volatile from the publisher's side: Event Grid stores and retries towards its subscribers, but a
publish that fails after the SDK's retries raises `ChannelError` and nothing is kept here.

Event Grid refuses an event or a request over 1 MB, and an oversize envelope must fail the call
before any of it is sent, so the channel computes the exact JSON the SDK will send for each event
(`wire_size`) and splits requests by it. CloudEvent schema events go to the SDK as
`azure.core.messaging.CloudEvent`, EventGridEvent schema events as dicts of that schema (both
documented inputs of `send`).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from messagehandler.azure_errors import azure_errors
from messagehandler.channels.envelope import CloudEvent
from messagehandler.channels.errors import CHANNEL_ERRORS, ChannelConfigurationError, ChannelError
from messagehandler.channels.lifecycle import Closeable
from messagehandler.channels.limits import encode_within_limit, json_array_batches
from messagehandler.channels.protocol import ChannelKind
from messagehandler.extras import requires_extra
from messagehandler.redaction import credential_secrets

with requires_extra("eventgrid", "the Event Grid channel", ("azure.eventgrid",)):
    from azure.core.credentials import AzureKeyCredential, AzureSasCredential
    from azure.core.messaging import CloudEvent as AzureCloudEvent
    from azure.eventgrid.aio import EventGridPublisherClient
    from yarl import URL

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential

MAX_REQUEST_BYTES = 1024 * 1024
_SEPARATOR = b", "


_CORE_ATTRIBUTES = frozenset({"specversion", "id", "source", "type", "subject", "time", "datacontenttype"})
SendItem = AzureCloudEvent[Any] | dict[str, Any]


def sdk_time(moment: datetime) -> str:
    """A time as the SDK's serializer writes it (UTC, at least milliseconds, `Z`): needed to know the size."""
    utc = moment.astimezone(UTC) if moment.tzinfo is not None else moment
    fraction = f"{utc.microsecond:06d}".rstrip("0").ljust(3, "0")
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{fraction}Z"


class EventGridSchema(enum.Enum):
    """Which input schema the topic was created with; a topic accepts only its own."""

    CLOUD_EVENT = "cloudevent"
    EVENT_GRID = "eventgrid"


def event_grid_event(envelope: CloudEvent, *, topic: str | None = None) -> dict[str, Any]:
    """The EventGridEvent-schema form of an envelope.

    That schema has no extension attributes: `data` is the stored payload unchanged and
    `dataVersion` its schema version; the stream version and the correlation, causation and
    tenant ids do not travel. Choose the CloudEvent schema when consumers need them.
    """
    event: dict[str, Any] = {
        "id": envelope.id,
        "subject": envelope.subject,
        "eventType": envelope.type,
        "eventTime": envelope.time.isoformat(),
        "dataVersion": str(envelope.schema_version),
        "data": json.loads(envelope.data),
    }
    if topic is not None:
        event["topic"] = topic
    return event


class EventGridChannel(Closeable):
    """Publishes to an Event Grid topic through the SDK's aio `EventGridPublisherClient`.

    Envelopes go in order, in as few requests as fit `max_request_bytes`. Retries are the SDK's
    (`retry_total`, `retry_backoff_factor`, `retry_backoff_max`, handed to the aio client, which
    honours them); further keyword options go to the client as they are.
    """

    messaging_system = "eventgrid"
    """`messaging.system` of its spans and metrics (OpenTelemetry messaging conventions)."""

    def __init__(
        self,
        endpoint: str,
        credential: AzureKeyCredential | AzureSasCredential | AsyncTokenCredential,
        *,
        name: str = "eventgrid",
        schema: EventGridSchema = EventGridSchema.CLOUD_EVENT,
        topic: str | None = None,
        max_request_bytes: int = MAX_REQUEST_BYTES,
        retry_total: int = 3,
        retry_backoff_factor: float = 0.8,
        retry_backoff_max: float = 30.0,
        **client_options: Any,
    ) -> None:
        parsed = URL(endpoint)
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ChannelConfigurationError(f"channel {name!r}: Event Grid endpoint must be an absolute http(s) URL")
        self._name = name
        self._schema = schema
        self._topic = topic
        self._where = f"{parsed.scheme}://{parsed.host}:{parsed.port}{parsed.path}"
        self._endpoint = endpoint
        self._credential = credential
        self._max_request_bytes = max_request_bytes
        self._client = EventGridPublisherClient(
            endpoint,
            credential,
            retry_total=retry_total,
            retry_backoff_factor=retry_backoff_factor,
            retry_backoff_max=retry_backoff_max,
            **client_options,
        )

    @classmethod
    def from_key(cls, endpoint: str, key: str, **options: Any) -> EventGridChannel:
        """With a topic access key, sent as the `aeg-sas-key` header."""
        return cls(endpoint, AzureKeyCredential(key), **options)

    @property
    def name(self) -> str:
        return self._name

    @property
    def kind(self) -> ChannelKind:
        return ChannelKind.VOLATILE

    @property
    def schema(self) -> EventGridSchema:
        return self._schema

    @property
    def max_message_bytes(self) -> int:
        """One event as serialised by the SDK, leaving room for the request's JSON array brackets."""
        return self._max_request_bytes - 2

    def wire_size(self, envelope: CloudEvent) -> int:
        """Bytes of `envelope` in the request body, as checked against `max_message_bytes`."""
        return len(json.dumps(self._wire_form(envelope)[1]).encode("utf-8"))

    def _wire_form(self, envelope: CloudEvent) -> tuple[SendItem, dict[str, Any]]:
        """What is handed to the SDK, and the JSON object the SDK will make of it."""
        if self._schema is EventGridSchema.EVENT_GRID:
            event = event_grid_event(envelope, topic=self._topic)
            return event, event
        attributes = envelope.attributes()
        extensions = {name: value for name, value in attributes.items() if name not in _CORE_ATTRIBUTES}
        data = json.loads(envelope.data)
        item = AzureCloudEvent(
            source=envelope.source,
            type=envelope.type,
            data=data,
            subject=envelope.subject,
            time=envelope.time,
            id=envelope.id,
            datacontenttype=attributes["datacontenttype"],
            extensions=extensions,
        )
        serialised = {
            **extensions,
            "id": envelope.id,
            "source": envelope.source,
            "data": data,
            "type": envelope.type,
            "time": sdk_time(envelope.time),
            "specversion": "1.0",
            "datacontenttype": attributes["datacontenttype"],
            "subject": envelope.subject,
        }
        return item, serialised

    async def publish(self, envelopes: Sequence[CloudEvent]) -> None:
        """Send every envelope in order, in as few requests as fit.

        Raises:
            EnvelopeTooLargeError: an envelope is over `max_message_bytes`; nothing was sent.
            ChannelUnavailableError: the topic could not be reached or failed after the SDK's retries;
                the message says how many envelopes of the call were sent before.
            ChannelAccessDeniedError: the key, SAS or identity was refused.
            ChannelClosedError: the channel was closed.
        """
        self._ensure_open()
        items: list[SendItem] = []

        def encode(envelope: CloudEvent) -> bytes:
            item, serialised = self._wire_form(envelope)
            items.append(item)
            return json.dumps(serialised).encode("utf-8")

        bodies = encode_within_limit(self._name, envelopes, self.max_message_bytes, encode)
        sent = 0
        secrets = [self._endpoint, *credential_secrets(self._credential)]
        for run in json_array_batches(bodies, self._max_request_bytes, separator=_SEPARATOR):
            try:
                with azure_errors(self._service, action="send", secrets=secrets, classes=CHANNEL_ERRORS):
                    await self._client.send([items[i] for i in run])
            except ChannelError as error:
                error.args = (f"{error}; {sent} of {len(envelopes)} envelope(s) of this call were sent",)
                raise
            sent += len(run)

    @property
    def _service(self) -> str:
        return f"channel {self._name!r} (Event Grid at {self._where})"

    async def _close(self) -> None:
        await self._client.close()

    def __repr__(self) -> str:
        return f"EventGridChannel(name={self._name!r}, endpoint={self._where!r}, schema={self._schema.value!r})"
