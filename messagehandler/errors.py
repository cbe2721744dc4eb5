"""One exception hierarchy, so callers can catch everything messagehandler raises with one clause.

Every message names what went wrong and where (event type, stream, version), because these errors
are read in production logs long after the command that caused them.
"""

from __future__ import annotations


class MessageHandlerError(Exception):
    """Root of every error raised by messagehandler."""


class ConfigurationError(MessageHandlerError):
    """Malformed configuration: a bad connection string, an invalid option."""


class EventDefinitionError(MessageHandlerError):
    """An event class cannot be used as declared (bad type name, bad schema version)."""


class DuplicateEventTypeError(EventDefinitionError):
    """Two different classes were registered under one event type name."""

    def __init__(self, type_name: str, existing: type, new: type) -> None:
        self.type_name = type_name
        super().__init__(
            f"event type name {type_name!r} is already registered to "
            f"{existing.__module__}.{existing.__qualname__}; cannot register "
            f"{new.__module__}.{new.__qualname__} under the same name"
        )


class UnknownEventTypeError(MessageHandlerError):
    """A stored event names a type that is not registered, so it cannot be deserialised."""

    def __init__(self, type_name: str, stream: str | None = None, version: int | None = None) -> None:
        self.type_name = type_name
        self.stream = stream
        self.version = version
        where = f" (stream {stream!r}, version {version})" if stream is not None else ""
        super().__init__(f"unknown event type {type_name!r}{where}: register its class in the EventTypeRegistry")


class UpcastError(MessageHandlerError):
    """No upcaster path leads from a stored schema version to the current one, or an upcaster failed."""


class SerializationError(MessageHandlerError):
    """An event could not be turned into its stored form, or its stored form back into an event."""


class HandlerDefinitionError(MessageHandlerError):
    """An aggregate's apply handler is declared in a way that cannot be dispatched."""


class MissingHandlerError(MessageHandlerError):
    """An aggregate was asked to apply an event type it has no handler for."""

    def __init__(self, aggregate_type: type, event_type: str, stream: str, version: int) -> None:
        self.event_type = event_type
        self.stream = stream
        self.version = version
        super().__init__(
            f"{aggregate_type.__qualname__} has no apply handler for event type {event_type!r} "
            f"(stream {stream!r}, version {version})"
        )


class EventAlreadyEmittedError(MessageHandlerError):
    """The same event instance was emitted twice; events are immutable facts with one identity."""


class StreamIntegrityError(MessageHandlerError):
    """Events do not belong where they are being put: wrong stream, or versions out of order."""

    def __init__(self, message: str, stream: str, version: int | None = None) -> None:
        self.stream = stream
        self.version = version
        super().__init__(message)


class ConcurrencyError(MessageHandlerError):
    """Another writer appended to the stream first; re-load the aggregate and run the command again."""

    def __init__(self, stream_type: str, stream_id: str, expected_version: int, actual_version: int | None) -> None:
        self.stream_type = stream_type
        self.stream_id = stream_id
        self.expected_version = expected_version
        self.actual_version = actual_version
        actual = "unknown" if actual_version is None else str(actual_version)
        super().__init__(
            f"concurrency conflict on stream {stream_type}/{stream_id}: "
            f"expected version {expected_version}, actual version {actual}"
        )
