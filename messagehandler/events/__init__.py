"""The event model: payload classes, their metadata, the type registry and serialisation."""

from messagehandler.events.context import MessageContext, current_message_context, message_context
from messagehandler.events.event import Event
from messagehandler.events.metadata import EventMetadata
from messagehandler.events.registry import EventTypeRegistry, Upcaster, default_registry
from messagehandler.events.serialization import EventSerializer, JsonEventSerializer

__all__ = [
    "Event",
    "EventMetadata",
    "EventSerializer",
    "EventTypeRegistry",
    "JsonEventSerializer",
    "MessageContext",
    "Upcaster",
    "current_message_context",
    "default_registry",
    "message_context",
]
