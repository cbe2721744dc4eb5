"""Turning events into stored bodies and back, through the type registry and its upcasters.

JSON is the default because stored rows must stay readable by other tools (the portal, the .NET
and Node SDKs). Both directions use pydantic's compiled serializer; the common path (current
schema version) never builds an intermediate dict.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Protocol

from pydantic import ValidationError
from pydantic_core import PydanticSerializationError, from_json

from messagehandler.errors import (
    AmbiguousEventTypeError,
    SerializationError,
    UnknownEventTypeError,
    UnstorableEventError,
    UpcastError,
)
from messagehandler.events.event import Event, stamp
from messagehandler.events.metadata import EventMetadata
from messagehandler.events.personal import SEALED, SEALED_MARK, EncryptedEventError, refuse_plaintext
from messagehandler.events.registry import EventTypeRegistry
from messagehandler.events.round_trip import check_body, explain_failure


class EventSerializer(Protocol):
    """Converts an event payload to its stored text and back."""

    registry: EventTypeRegistry

    def serialize(self, event: Event) -> str: ...

    def deserialize(self, body: str, metadata: EventMetadata) -> Event: ...


class UndecodedEvent(Event, type_name="messagehandler.UndecodedEvent"):
    """Stand-in for a stored event that could not be decoded, inside `undecoded_as_placeholders()` only.

    Its metadata is the stored event's (the real type name is `metadata.event_type`), `body` the stored
    text and `error` why it could not be decoded.
    """

    body: str
    error: str


_UNDECODABLE = (UnknownEventTypeError, AmbiguousEventTypeError, UpcastError, SerializationError)
_placeholders: ContextVar[bool] = ContextVar("messagehandler_undecoded_placeholders", default=False)


@contextmanager
def undecoded_as_placeholders() -> Iterator[None]:
    """Within this block, `JsonEventSerializer` returns an `UndecodedEvent` instead of raising.

    For readers that settle a bad row by a policy of their own instead of stopping at it: the
    processing host's event-store source turns it into a delivery that fails to decode, which is
    retried and then dead-lettered like any poison message. Everywhere else a bad row raises.
    """
    token = _placeholders.set(True)
    try:
        yield
    finally:
        _placeholders.reset(token)


class JsonEventSerializer:
    """Payload as a JSON object; metadata is kept outside the body by the event sources."""

    def __init__(self, registry: EventTypeRegistry | None = None) -> None:
        self.registry = registry if registry is not None else EventTypeRegistry()

    def serialize(self, event: Event) -> str:
        """The event's payload as JSON, refused when it would not read back as it is.

        Raises:
            UnstorableEventError: a value would not survive the round trip (NaN, infinity, nesting
                deeper than `round_trip.MAX_DEPTH`, an integer of more than 4,300 digits, a lone
                surrogate, a member named `$personal`); the error names the field.
            UnprotectedPersonalDataError: the event marks personal data (see `messagehandler.personal`).
            SerializationError: the payload holds something JSON cannot express at all.
        """
        refuse_plaintext(event)
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
        if SEALED_MARK in body:
            raise UnstorableEventError(
                type(event).__event_type__,
                f"holds a member named {SEALED!r}, which marks encrypted personal data and would not read back",
                stream=event.metadata.stream if event.has_metadata else None,
                version=event.metadata.version if event.has_metadata else None,
            )
        return body

    def deserialize(self, body: str, metadata: EventMetadata) -> Event:
        """Build the registered class from a stored body, upcasting old schema versions first."""
        event = decode_current(self.registry, body, metadata)
        if event is not None:
            return event
        try:
            return self._deserialize(body, metadata)
        except _UNDECODABLE as error:
            if not _placeholders.get():
                raise
            placeholder = UndecodedEvent.model_construct(body=body, error=str(error))
            placeholder._stamp(metadata)
            return placeholder

    def deserialize_many(self, stored: Iterable[tuple[EventMetadata, str]]) -> list[Event]:
        """`deserialize` for every (metadata, body) pair, each type name resolved once per call.

        The readers of whole streams call this: per event it costs one validation and one stamp,
        against three calls and two class lookups for `deserialize`. Anything but the common case
        goes through `deserialize`, with its upcasting and typed errors.
        """
        events: list[Event] = []
        append = events.append
        readers: dict[str, tuple[int, Callable[[str], Event]] | None] = {}
        for metadata, body in stored:
            name = metadata.event_type
            reader = (
                readers[name] if name in readers else readers.setdefault(name, _current_reader(self.registry, name))
            )
            if reader is None or metadata.schema_version != reader[0] or SEALED_MARK in body:
                append(self.deserialize(body, metadata))
                continue
            try:
                event = reader[1](body)
            except ValidationError:
                event = self.deserialize(body, metadata)  # raises the typed error, or gives a placeholder
            else:
                stamp(event, metadata)
            append(event)
        return events

    def _deserialize(self, body: str, metadata: EventMetadata) -> Event:
        if SEALED_MARK in body:
            raise EncryptedEventError(
                f"stored event of type {metadata.event_type!r} (stream {metadata.stream!r}, version "
                f"{metadata.version}) holds personal data encrypted with key {metadata.encryption_key_id!r}: read "
                "it through a PersonalDataSerializer (messagehandler.personal)",
                stream=metadata.stream,
                version=metadata.version,
            )
        cls = self.registry.resolve(metadata.event_type, stream=metadata.stream, version=metadata.version)
        current = cls.__schema_version__
        try:
            if metadata.schema_version == current:
                event = cls.model_validate_json(body)
            else:
                data = self.registry.upcast(
                    metadata.event_type, metadata.schema_version, _stored_json(body), stream=metadata.stream
                )
                event = cls.model_validate(data)
                metadata = metadata.with_schema_version(current)
        except (ValidationError, ValueError, TypeError, RecursionError) as error:
            raise SerializationError(
                f"stored event of type {metadata.event_type!r} (stream {metadata.stream!r}, version {metadata.version}) "
                f"does not match its class {cls.__qualname__}: {error}"
            ) from error
        event._stamp(metadata)
        return event


def _stored_json(body: str) -> Any:
    """A stored body as Python values, parsed as the current-version path parses it (pydantic's parser).

    So both paths refuse the same bodies (nested too deeply, not UTF-8, not JSON) with a ValueError or
    TypeError, which `_deserialize` reports as the row's `SerializationError`; `json.loads` would
    raise a RecursionError instead, which no reader could tell from a bug.
    """
    return from_json(body)


def decode_current(registry: EventTypeRegistry, body: str, metadata: EventMetadata) -> Event | None:
    """The common case of reading an event, at the least cost per event; None for every other case.

    A known type stored in its class's current schema version is validated straight from the JSON
    text and stamped. Anything else (an unknown or ambiguous type, an old schema version, a body that
    does not validate, a body holding sealed personal data) returns None, and `JsonEventSerializer`
    settles it: upcasting, or the typed error that names the row. The stream name for error
    messages is built only then.
    """
    if SEALED_MARK in body:
        return None
    try:
        cls = registry.get(metadata.event_type)
        if cls is None or metadata.schema_version != cls.__schema_version__:
            return None
        event: Event = cls.__pydantic_validator__.validate_json(body)
    except (AmbiguousEventTypeError, ValidationError):
        return None
    stamp(event, metadata)
    return event


def _current_reader(registry: EventTypeRegistry, type_name: str) -> tuple[int, Callable[[str], Event]] | None:
    """The schema version and JSON validator of the class a name resolves to; None when it does not resolve."""
    try:
        cls = registry.get(type_name)
    except AmbiguousEventTypeError:
        return None
    if cls is None:
        return None
    validate: Callable[[str], Event] = cls.__pydantic_validator__.validate_json
    return cls.__schema_version__, validate


ManyDeserializer = Callable[[Iterable[tuple[EventMetadata, str]]], list[Event]]


def many_deserializer(serializer: EventSerializer) -> ManyDeserializer:
    """The serializer's `deserialize_many`, or `deserialize` called for each pair.

    `deserialize_many` counts only where the class that defines `deserialize` defines it too: a
    subclass that overrides `deserialize` alone (to decrypt, say) must not be bypassed.
    """
    many: ManyDeserializer | None = getattr(serializer, "deserialize_many", None)
    if many is not None and _definer(type(serializer), "deserialize_many") is _definer(type(serializer), "deserialize"):
        return many
    deserialize = serializer.deserialize
    return lambda stored: [deserialize(body, metadata) for metadata, body in stored]


def _definer(kind: type, name: str) -> type | None:
    return next((base for base in kind.__mro__ if name in vars(base)), None)
