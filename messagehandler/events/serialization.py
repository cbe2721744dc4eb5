"""Turning events into stored bodies and back, through the type registry and its upcasters.

JSON is the default because stored rows must stay readable by other tools (the portal, the .NET
and Node SDKs). Both directions use pydantic's compiled serializer; the common path (current
schema version) never builds an intermediate dict.
"""

from __future__ import annotations

import json
from typing import Protocol

from pydantic import ValidationError
from pydantic_core import PydanticSerializationError

from messagehandler.errors import SerializationError, UnknownEventTypeError, UnstorableEventError
from messagehandler.events.event import Event
from messagehandler.events.metadata import EventMetadata
from messagehandler.events.registry import EventTypeRegistry
from messagehandler.events.round_trip import check_body, explain_failure


class EventSerializer(Protocol):
    """Converts an event payload to its stored text and back."""

    registry: EventTypeRegistry

    def serialize(self, event: Event) -> str: ...

    def deserialize(self, body: str, metadata: EventMetadata) -> Event: ...


class JsonEventSerializer:
    """Payload as a JSON object; metadata is kept outside the body by the event sources."""

    def __init__(self, registry: EventTypeRegistry | None = None) -> None:
        self.registry = registry if registry is not None else EventTypeRegistry()

    def serialize(self, event: Event) -> str:
        """The event's payload as JSON, refused when it would not read back as it is.

        Raises:
            UnstorableEventError: a value would not survive the round trip (NaN, infinity, nesting
                deeper than `round_trip.MAX_DEPTH`, an integer of more than 4,300 digits, a lone
                surrogate); the error names the field.
            SerializationError: the payload holds something JSON cannot express at all.
        """
        try:
            body = event.model_dump_json()
        except (PydanticSerializationError, TypeError, ValueError) as error:
            found = explain_failure(event)
            if found is not None:
                raise UnstorableEventError(
                    type(event).__event_type__,
                    found[1],
                    field=found[0],
                    stream=event.metadata.stream if event.has_metadata else None,
                    version=event.metadata.version if event.has_metadata else None,
                ) from error
            where = ""
            if event.has_metadata:
                meta = event.metadata
                where = f" (stream {meta.stream!r}, version {meta.version})"
            raise SerializationError(
                f"event of type {type(event).__event_type__!r}{where} cannot be serialised to JSON: {error}"
            ) from error
        check_body(event, body)
        return body

    def deserialize(self, body: str, metadata: EventMetadata) -> Event:
        """Build the registered class from a stored body, upcasting old schema versions first."""
        cls = self.registry.get(metadata.event_type)
        if cls is None:
            raise UnknownEventTypeError(metadata.event_type, metadata.stream, metadata.version)
        current = cls.__schema_version__
        try:
            if metadata.schema_version == current:
                event = cls.model_validate_json(body)
            else:
                data = self.registry.upcast(
                    metadata.event_type, metadata.schema_version, json.loads(body), stream=metadata.stream
                )
                event = cls.model_validate(data)
                metadata = metadata.with_schema_version(current)
        except (ValidationError, json.JSONDecodeError) as error:
            raise SerializationError(
                f"stored event of type {metadata.event_type!r} (stream {metadata.stream!r}, version {metadata.version}) "
                f"does not match its class {cls.__qualname__}: {error}"
            ) from error
        event._stamp(metadata)
        return event
