"""CloudEvents 1.0 envelopes: the one format every channel carries.

Consumers deduplicate on `id` (the event id) and order per stream on the `streamversion` extension.
The payload travels as a JSON object in `data`, exactly as stored, so what is published never
deviates from the store. Reading is strict about what makes an envelope usable (spec version 1.0,
the required attributes with their CloudEvents types, JSON data) and tolerant about representation
(null attributes count as absent; times in any RFC 3339 form; integers as numbers or canonical
strings): anything else raises `MalformedEnvelopeError`, which receivers treat per message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from messagehandler.channels.attributes import (
    check_json_content_type,
    default_source,
    dump_json,
    format_time,
    load_json,
    read_integer,
    read_optional_string,
    read_string,
    read_time,
)
from messagehandler.channels.errors import MalformedEnvelopeError
from messagehandler.events.event import Event
from messagehandler.events.metadata import EventMetadata, stored_metadata
from messagehandler.events.serialization import EventSerializer

if TYPE_CHECKING:
    from messagehandler.telemetry.propagation import TraceContext

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"
DATA_CONTENT_TYPE = "application/json"


@dataclass(frozen=True, slots=True)
class CloudEvent:
    """A structured-mode CloudEvent built from one stored event.

    `data` is the payload's JSON text (kept as text so it is serialised once, by the store's
    serializer). Extensions: `streamtype`, `streamid`, `streamversion`, `schemaversion`, and, when
    set, `correlationid`, `causationid`, `tenantid`, `who`, `encryptionkeyid` (the data key of the
    event's sealed personal data, which `data` carries as stored; see `messagehandler.personal`), and the
    distributed-tracing extension's `traceparent` and `tracestate` (the W3C trace context the event was
    published in).
    """

    id: str
    source: str
    type: str
    subject: str
    time: datetime
    data: str
    stream_type: str
    stream_id: str
    stream_version: int
    schema_version: int = 1
    correlation_id: str | None = None
    causation_id: str | None = None
    tenant_id: str | None = None
    who: str | None = None
    encryption_key_id: str | None = None
    traceparent: str | None = None
    tracestate: str | None = None

    @classmethod
    def from_event(
        cls, event: Event, serializer: EventSerializer, *, source: str | None = None, trace: TraceContext | None = None
    ) -> CloudEvent:
        meta = event.metadata
        return cls.from_stored(meta, serializer.serialize(event), source=source, trace=trace)

    @classmethod
    def from_stored(
        cls, meta: EventMetadata, body: str, *, source: str | None = None, trace: TraceContext | None = None
    ) -> CloudEvent:
        return cls(
            id=meta.event_id,
            source=source if source is not None else default_source(meta.source_type),
            type=meta.event_type,
            subject=f"{meta.source_type}/{meta.source_id}",
            time=meta.when,
            data=body,
            stream_type=meta.source_type,
            stream_id=meta.source_id,
            stream_version=meta.version,
            schema_version=meta.schema_version,
            correlation_id=meta.correlation_id,
            causation_id=meta.causation_id,
            tenant_id=meta.tenant_id,
            who=meta.who,
            encryption_key_id=meta.encryption_key_id,
            traceparent=None if trace is None else trace.traceparent,
            tracestate=None if trace is None else trace.tracestate,
        )

    def attributes(self) -> dict[str, Any]:
        """Context attributes and extensions, without `data`: for binary-mode headers and properties."""
        attributes: dict[str, Any] = {
            "specversion": SPEC_VERSION,
            "id": self.id,
            "source": self.source,
            "type": self.type,
            "subject": self.subject,
            "time": format_time(self.time),
            "datacontenttype": DATA_CONTENT_TYPE,
            "streamtype": self.stream_type,
            "streamid": self.stream_id,
            "streamversion": self.stream_version,
            "schemaversion": self.schema_version,
        }
        for name, value in (
            ("correlationid", self.correlation_id),
            ("causationid", self.causation_id),
            ("tenantid", self.tenant_id),
            ("who", self.who),
            ("encryptionkeyid", self.encryption_key_id),
            ("traceparent", self.traceparent),
            ("tracestate", self.tracestate),
        ):
            if value is not None:
                attributes[name] = value
        return attributes

    def to_json(self) -> str:
        """Structured mode: attributes and `data` in one JSON object."""
        head = dump_json(self.attributes(), "the envelope's attributes")
        return f'{head[:-1]},"data":{self.data}}}'

    def to_bytes(self) -> bytes:
        return self.to_json().encode("utf-8")

    @classmethod
    def from_json(cls, text: str | bytes) -> CloudEvent:
        """An envelope in the CloudEvents JSON format, or `MalformedEnvelopeError` saying what is wrong."""
        raw = load_json(text, "the envelope")
        if not isinstance(raw, dict):
            raise MalformedEnvelopeError(f"the envelope is a JSON {type(raw).__name__}, not an object")
        _check_spec_version(raw)
        if raw.get("data_base64") is not None:
            raise MalformedEnvelopeError("the envelope carries binary data (data_base64); events carry JSON data")
        if "data" not in raw:
            raise MalformedEnvelopeError("the envelope has no data")
        return cls.from_attributes(raw, dump_json(raw["data"], "the envelope's data"))

    @classmethod
    def from_attributes(
        cls, attributes: Mapping[str, Any], data: str, *, epoch_milliseconds: bool = False
    ) -> CloudEvent:
        """An envelope from its attributes (any binding's representation) and its data as JSON text.

        Null attributes count as absent (the JSON format says so). With `epoch_milliseconds`, an
        integer `time` is an AMQP timestamp. Raises `MalformedEnvelopeError` naming the first problem.
        """
        _check_spec_version(attributes)
        check_json_content_type(read_optional_string(attributes, "datacontenttype"))
        if not data.startswith("{"):
            raise MalformedEnvelopeError("the envelope's data is not a JSON object")
        stream_type = read_string(attributes, "streamtype")
        stream_id = read_string(attributes, "streamid")
        return cls(
            id=read_string(attributes, "id"),
            source=read_string(attributes, "source"),
            type=read_string(attributes, "type"),
            subject=read_optional_string(attributes, "subject") or f"{stream_type}/{stream_id}",
            time=read_time(attributes, "time", epoch_milliseconds=epoch_milliseconds),
            data=data,
            stream_type=stream_type,
            stream_id=stream_id,
            stream_version=read_integer(attributes, "streamversion"),
            schema_version=read_integer(attributes, "schemaversion", default=1),
            correlation_id=read_optional_string(attributes, "correlationid"),
            causation_id=read_optional_string(attributes, "causationid"),
            tenant_id=read_optional_string(attributes, "tenantid"),
            who=read_optional_string(attributes, "who"),
            encryption_key_id=read_optional_string(attributes, "encryptionkeyid"),
            traceparent=read_optional_string(attributes, "traceparent"),
            tracestate=read_optional_string(attributes, "tracestate"),
        )

    def metadata(self) -> EventMetadata:
        return stored_metadata(
            self.id,
            self.type,
            self.stream_id,
            self.stream_type,
            self.stream_version,
            self.time,
            self.who,
            self.causation_id,
            self.correlation_id,
            self.tenant_id,
            self.schema_version,
            self.encryption_key_id,
            None,
        )

    def to_event(self, serializer: EventSerializer) -> Event:
        """The typed event, through the registry and its upcasters, with its metadata restored."""
        return serializer.deserialize(self.data, self.metadata())


def _check_spec_version(attributes: Mapping[str, Any]) -> None:
    specversion = read_string(attributes, "specversion")
    if specversion != SPEC_VERSION:
        raise MalformedEnvelopeError(f"spec version {specversion!r} is not {SPEC_VERSION!r}")
