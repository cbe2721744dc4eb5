"""Event sources: the `EventSource` protocol and its implementations."""

from messagehandler.eventsource.keys import InvalidKeyError, validate_stream
from messagehandler.eventsource.memory import InMemoryEventSource
from messagehandler.eventsource.protocol import EventSource, EventStream

__all__ = ["EventSource", "EventStream", "InMemoryEventSource", "InvalidKeyError", "validate_stream"]
