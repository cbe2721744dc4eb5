"""Reading the CloudEvents of a received HTTP request (a webhook delivery, an Event Grid push), each on its own.

Any content mode of the CloudEvents HTTP binding: structured (`application/cloudevents+json`),
batched (`application/cloudevents-batch+json`, what Event Grid and batch webhooks send) and binary
(`ce-` headers, data in the body). A batch is decoded item by item, so one malformed item never
loses the others: it is reported in `failures` with its position and the reason, for the receiver
to log. There is nothing to redeliver on HTTP, so answer 2xx once the good ones are handled
(a retry of the same request would fail the same way). Standard library only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_to_bytes

from messagehandler.channels.attributes import dump_json, load_json
from messagehandler.channels.envelope import CloudEvent
from messagehandler.channels.errors import MalformedEnvelopeError

STRUCTURED = "application/cloudevents+json"
BATCHED = "application/cloudevents-batch+json"
_HEADER_PREFIX = "ce-"


@dataclass(frozen=True, slots=True)
class Failure:
    """An item of a request that is not a messagehandler CloudEvent: its position, its id if known, and why."""

    index: int
    id: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class HttpEvents:
    envelopes: list[CloudEvent] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)


def decode_http_request(headers: Mapping[str, str], body: bytes) -> HttpEvents:
    """The envelopes of a request in any CloudEvents HTTP content mode, and what could not be decoded."""
    found = {name.lower(): value for name, value in headers.items()}
    content_type = found.get("content-type", "")
    media_type = content_type.split(";", 1)[0].strip().lower()
    try:
        if media_type == BATCHED:
            return _batch(body)
        if media_type == STRUCTURED:
            return HttpEvents([CloudEvent.from_json(body)])
        if media_type.startswith("application/cloudevents"):
            raise MalformedEnvelopeError(f"event format {content_type!r} is not supported; send the JSON format")
        return HttpEvents([_binary(found, content_type, body)])
    except MalformedEnvelopeError as error:
        return HttpEvents(failures=[Failure(0, found.get("ce-id"), str(error))])


def _batch(body: bytes) -> HttpEvents:
    items = load_json(body, "the batch")
    if not isinstance(items, list):
        raise MalformedEnvelopeError("a CloudEvents batch is a JSON array")
    decoded = HttpEvents()
    for index, item in enumerate(items):
        try:
            if not isinstance(item, dict):
                raise MalformedEnvelopeError(f"item is a JSON {type(item).__name__}, not an object")
            decoded.envelopes.append(CloudEvent.from_json(dump_json(item, "the item")))
        except MalformedEnvelopeError as error:
            known = item.get("id") if isinstance(item, dict) else None
            decoded.failures.append(Failure(index, known if isinstance(known, str) else None, str(error)))
    return decoded


def _binary(headers: Mapping[str, str], content_type: str, body: bytes) -> CloudEvent:
    attributes: dict[str, Any] = {
        name[len(_HEADER_PREFIX) :]: header_value(value)
        for name, value in headers.items()
        if name.startswith(_HEADER_PREFIX)
    }
    if not attributes:
        raise MalformedEnvelopeError("the request is no CloudEvent: no CloudEvents content type and no ce- headers")
    if "datacontenttype" in attributes:
        raise MalformedEnvelopeError(
            "binary mode carries the data content type in Content-Type, not ce-datacontenttype"
        )
    if content_type:
        attributes["datacontenttype"] = content_type
    return CloudEvent.from_attributes(attributes, dump_json(load_json(body, "the body"), "the body"))


def header_value(value: str) -> str:
    """A `ce-` header value as the HTTP binding writes it: optionally double-quoted, then percent-encoded UTF-8."""
    text = value.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = _unquote(text[1:-1])
    try:
        return unquote_to_bytes(text).decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedEnvelopeError(f"header value {value!r:.40} is not percent-encoded UTF-8") from None


def _unquote(quoted: str) -> str:
    out: list[str] = []
    escaped = False
    for char in quoted:
        if escaped or char != "\\":
            out.append(char)
            escaped = False
        else:
            escaped = True
    return "".join(out)
