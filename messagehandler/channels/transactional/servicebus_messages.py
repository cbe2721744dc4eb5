"""Envelopes as Service Bus messages: CloudEvents AMQP binding, binary content mode.

Binary mode, because Service Bus routes and filters on message properties, not bodies: topic
subscriptions can filter on `sys.Label` (the event type) or `cloudEvents_streamtype` without
parsing JSON, and the Service Bus Explorer shows the payload as it was stored. The body is the
event's JSON exactly as stored; every other attribute is an application property prefixed
`cloudEvents_` (the binding's preferred prefix, usable unquoted in SQL filters). Integers go out as
AMQP long and strings as AMQP string, as the binding requires; the time goes out as its canonical
RFC 3339 string, which the binding allows and which keeps its microseconds.

Reading accepts what the binding allows a sender: either prefix, native AMQP values (long or any
integer, timestamp, boolean, binary) or canonical strings, and structured-mode messages whose
content type starts with `application/cloudevents+json` in any case. Anything else raises
`MalformedEnvelopeError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, cast

from messagehandler.channels.attributes import dump_json, load_json
from messagehandler.channels.azure_messaging import amqp_long
from messagehandler.channels.envelope import CloudEvent
from messagehandler.channels.errors import MalformedEnvelopeError
from messagehandler.extras import requires_extra

with requires_extra("servicebus", "the Service Bus channel", ("azure.servicebus",)):
    from azure.servicebus import ServiceBusMessage, ServiceBusReceivedMessage

PROPERTY_PREFIX = "cloudEvents_"
ACCEPTED_PREFIXES = (PROPERTY_PREFIX, "cloudEvents:")
CLOUDEVENTS_MEDIA_TYPE = "application/cloudevents"
STRUCTURED_JSON = "application/cloudevents+json"
_INTEGER_ATTRIBUTES = frozenset({"streamversion", "schemaversion"})


def to_message(envelope: CloudEvent, *, sessions: bool) -> ServiceBusMessage:
    """message_id = event id, so Service Bus duplicate detection drops a resend from the outbox."""
    attributes = envelope.attributes()
    content_type = attributes.pop("datacontenttype")
    properties = {
        PROPERTY_PREFIX + name: amqp_long(value) if name in _INTEGER_ATTRIBUTES else value
        for name, value in attributes.items()
    }
    return ServiceBusMessage(
        envelope.data.encode("utf-8"),
        message_id=envelope.id,
        session_id=envelope.stream_id if sessions else None,
        subject=envelope.type,
        content_type=content_type,
        correlation_id=envelope.correlation_id,
        application_properties=cast("dict[str | bytes, Any]", properties),  # typed values: see amqp_long
    )


def envelope_of(message: ServiceBusReceivedMessage) -> CloudEvent:
    """The envelope a message carries, or `MalformedEnvelopeError` for a message that is not one."""
    body = _body_bytes(message.body)
    content_type = message.content_type or ""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == STRUCTURED_JSON:
        return CloudEvent.from_json(body)
    if media_type.startswith(CLOUDEVENTS_MEDIA_TYPE):
        raise MalformedEnvelopeError(f"event format {content_type!r} is not supported; send the JSON format")
    attributes = cloud_event_properties(message.application_properties or {})
    if not attributes:
        raise MalformedEnvelopeError("message has neither CloudEvents properties nor a structured CloudEvent body")
    if content_type:
        attributes["datacontenttype"] = content_type
    data = dump_json(load_json(body, "the message body"), "the message body")
    return CloudEvent.from_attributes(attributes, data, epoch_milliseconds=True)


def cloud_event_properties(properties: Mapping[Any, Any]) -> dict[str, Any]:
    """The CloudEvents attributes among AMQP application properties, with either prefix of the binding."""
    attributes: dict[str, Any] = {}
    for key, value in properties.items():
        name = key.decode("utf-8", "replace") if isinstance(key, bytes) else str(key)
        for prefix in ACCEPTED_PREFIXES:
            if name.startswith(prefix):
                attributes[name[len(prefix) :]] = value
    return attributes


def _body_bytes(body: Any) -> bytes:
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, Iterable):
        try:
            return b"".join(bytes(part) for part in body)
        except (TypeError, ValueError):
            pass
    raise MalformedEnvelopeError(f"the message body is not data sections ({type(body).__name__})")
