"""Reading a store without knowing its event classes: bodies pass through as the text they are.

The replicator and the operator commands handle every event type of a store, including types whose
classes live in other services. `PassThroughSerializer` makes any `EventSource` hand back each body
untouched inside a `StoredBody`, so the cache holds the store's bytes, not a re-serialisation.
"""

from __future__ import annotations

from collections.abc import Iterable

from messagehandler.events.event import Event
from messagehandler.events.metadata import EventMetadata
from messagehandler.events.registry import EventTypeRegistry
from messagehandler.events.serialization import EventSerializer, JsonEventSerializer


class StoredBody(Event, type_name="messagehandler.StoredBody"):
    """Stand-in for an event of any type; the real type name is in `metadata.event_type`."""

    body: str


class PassThroughSerializer:
    """An `EventSerializer` that keeps bodies as text; writing a `StoredBody` back stores it unchanged.

    Types in `registry` are deserialised as usual: a projection then gets its own event classes and
    sees every other type as a `StoredBody` it has no handler for, instead of failing on it.
    """

    def __init__(self, registry: EventTypeRegistry | None = None) -> None:
        self.registry = registry if registry is not None else EventTypeRegistry()
        self._typed = JsonEventSerializer(self.registry)

    def serialize(self, event: Event) -> str:
        if isinstance(event, StoredBody):
            return event.body
        return self._typed.serialize(event)

    def deserialize_many(self, stored: Iterable[tuple[EventMetadata, str]]) -> list[Event]:
        """Typed in bulk when every type is registered (a projection's own stream), else one by one."""
        pairs = list(stored)
        registry = self.registry
        if all(name in registry for name in {metadata.event_type for metadata, _ in pairs}):
            return self._typed.deserialize_many(pairs)
        return [self.deserialize(body, metadata) for metadata, body in pairs]

    def deserialize(self, body: str, metadata: EventMetadata) -> Event:
        if metadata.event_type in self.registry:
            return self._typed.deserialize(body, metadata)
        event = StoredBody.model_construct(body=body)
        event._stamp(metadata)
        return event


def body_of(event: Event, serializer: EventSerializer) -> str:
    """The stored text of an event read through any serializer."""
    if isinstance(event, StoredBody):
        return event.body
    return serializer.serialize(event)
