"""CloudEvents 1.0 envelopes: the one format every channel carries.

Consumers deduplicate on `id` (the event id) and order per stream on the `streamversion` extension.
The payload travels as a JSON object in `data`, exactly as stored, so what is published never
deviates from the store.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from messagehandler.errors import SerializationError
from messagehandler.events.event import Event
from messagehandler.events.metadata import EventMetadata
from messagehandler.events.serialization import EventSerializer

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"


@dataclass(frozen=True, slots=True)
class CloudEvent:
    """A structured-mode CloudEvent built from one stored event.

    `data` is the payload's JSON text (kept as text so it is serialised once, by the store's
    serializer). Extensions: `streamtype`, `streamid`, `streamversion`, `schemaversion`, and, when
    set, `correlationid`, `causationid`, `tenantid`, `who`.
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

    @classmethod
    def from_event(cls, event: Event, serializer: EventSerializer, *, source: str | None = None) -> CloudEvent:
        meta = event.metadata
        return cls.from_stored(meta, serializer.serialize(event), source=source)

    @classmethod
    def from_stored(cls, meta: EventMetadata, body: str, *, source: str | None = None) -> CloudEvent:
        return cls(
            id=meta.event_id,
            source=source if source is not None else f"/messagehandler/{meta.source_type}",
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
        )

    def attributes(self) -> dict[str, Any]:
        """Context attributes and extensions, without `data`: for binary-mode headers and properties."""
        attributes: dict[str, Any] = {
            "specversion": SPEC_VERSION,
            "id": self.id,
            "source": self.source,
            "type": self.type,
            "subject": self.subject,
            "time": self.time.isoformat(),
            "datacontenttype": "application/json",
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
        ):
            if value is not None:
                attributes[name] = value
        return attributes

    def to_json(self) -> str:
        """Structured mode: attributes and `data` in one JSON object."""
        head = json.dumps(self.attributes(), separators=(",", ":"))
        return f'{head[:-1]},"data":{self.data}}}'

    def to_bytes(self) -> bytes:
        return self.to_json().encode("utf-8")

    @classmethod
    def from_json(cls, text: str | bytes) -> CloudEvent:
        try:
            raw = json.loads(text)
            return cls(
                id=raw["id"],
                source=raw["source"],
                type=raw["type"],
                subject=raw["subject"],
                time=datetime.fromisoformat(raw["time"]),
                data=json.dumps(raw["data"], separators=(",", ":")),
                stream_type=raw["streamtype"],
                stream_id=raw["streamid"],
                stream_version=int(raw["streamversion"]),
                schema_version=int(raw.get("schemaversion", 1)),
                correlation_id=raw.get("correlationid"),
                causation_id=raw.get("causationid"),
                tenant_id=raw.get("tenantid"),
                who=raw.get("who"),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise SerializationError(f"not a messagehandler CloudEvent: {error!r}") from error

    def metadata(self) -> EventMetadata:
        return EventMetadata(
            event_id=self.id,
            event_type=self.type,
            source_id=self.stream_id,
            source_type=self.stream_type,
            version=self.stream_version,
            when=self.time,
            who=self.who,
            causation_id=self.causation_id,
            correlation_id=self.correlation_id,
            tenant_id=self.tenant_id,
            schema_version=self.schema_version,
        )

    def to_event(self, serializer: EventSerializer) -> Event:
        """The typed event, through the registry and its upcasters, with its metadata restored."""
        return serializer.deserialize(self.data, self.metadata())
