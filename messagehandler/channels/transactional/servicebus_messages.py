"""Envelopes as Service Bus messages: CloudEvents AMQP binding, binary content mode.

Binary mode, because Service Bus routes and filters on message properties, not bodies: topic
subscriptions can filter on `sys.Label` (the event type) or `cloudEvents_streamtype` without
parsing JSON, and the Service Bus Explorer shows the payload as it was stored. The body is the
event's JSON exactly as stored; every other attribute is an application property prefixed
`cloudEvents_` (the binding's preferred prefix, usable unquoted in SQL filters; `cloudEvents:` is
accepted when reading). Structured-mode messages (`application/cloudevents+json`) are read too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from messagehandler.channels.envelope import CloudEvent
from messagehandler.errors import SerializationError
from messagehandler.extras import requires_extra

with requires_extra("servicebus", "the Service Bus channel", ("azure.servicebus",)):
    from azure.servicebus import ServiceBusMessage, ServiceBusReceivedMessage

PROPERTY_PREFIX = "cloudEvents_"
ACCEPTED_PREFIXES = (PROPERTY_PREFIX, "cloudEvents:")
STRUCTURED_CONTENT_TYPE = "application/cloudevents+json"


def to_message(envelope: CloudEvent, *, sessions: bool) -> ServiceBusMessage:
    """message_id = event id, so Service Bus duplicate detection drops a resend from the outbox."""
    attributes = envelope.attributes()
    content_type = attributes.pop("datacontenttype")
    return ServiceBusMessage(
        envelope.data.encode("utf-8"),
        message_id=envelope.id,
        session_id=envelope.stream_id if sessions else None,
        subject=envelope.type,
        content_type=content_type,
        correlation_id=envelope.correlation_id,
        application_properties={PROPERTY_PREFIX + name: value for name, value in attributes.items()},
    )


def envelope_of(message: ServiceBusReceivedMessage) -> CloudEvent:
    """The envelope a message carries, or `SerializationError` for a message that is not one."""
    body = _body_bytes(message.body)
    if (message.content_type or "").startswith(STRUCTURED_CONTENT_TYPE):
        return CloudEvent.from_json(body)
    attributes = _cloud_event_properties(message.application_properties or {})
    if not attributes:
        raise SerializationError("message has neither CloudEvents properties nor a structured CloudEvent body")
    try:
        attributes["data"] = json.loads(body)
    except ValueError as error:
        raise SerializationError(f"message body is not JSON: {error}") from error
    return CloudEvent.from_json(json.dumps(attributes))


def _cloud_event_properties(properties: Mapping[Any, Any]) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    for key, value in properties.items():
        name = _text(key)
        for prefix in ACCEPTED_PREFIXES:
            if name.startswith(prefix):
                attributes[name[len(prefix) :]] = _text(value) if isinstance(value, bytes) else value
    return attributes


def _body_bytes(body: Any) -> bytes:
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, Iterable):
        return b"".join(bytes(part) for part in body)
    raise SerializationError(f"unexpected message body of type {type(body).__name__}")


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)
