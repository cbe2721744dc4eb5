"""messagehandler: event sourcing on Azure, for Python.

Aggregates record what happened as events (`messagehandler.domain`), the repository stores them
atomically through an event source (`messagehandler.eventsource`), and the event model lives in
`messagehandler.events`.
"""

from messagehandler.domain import EventSourced, SnapshotDefinitionError, SnapshotPolicy, applies
from messagehandler.errors import (
    AccessDeniedError,
    ConcurrencyError,
    ConfigurationError,
    DuplicateEventTypeError,
    EventAlreadyEmittedError,
    EventDefinitionError,
    HandlerDefinitionError,
    LocalFileError,
    MessageHandlerError,
    MissingExtraError,
    MissingHandlerError,
    NotCommittedError,
    OutcomeUnknownError,
    Remedy,
    ResourceNotFoundError,
    SerializationError,
    ServiceError,
    ServiceUnavailableError,
    StreamIntegrityError,
    UnknownEventTypeError,
    UnreadableEventError,
    UnstorableEventError,
    UpcastError,
)
from messagehandler.events import (
    Event,
    EventMetadata,
    EventTypeRegistry,
    JsonEventSerializer,
    MessageContext,
    message_context,
)
from messagehandler.eventsource import EventSource, EventStream, InMemoryEventSource, InvalidKeyError, SkipBadRows
from messagehandler.repository import (
    AccessStrategy,
    AggregateRepository,
    Cached,
    FullReplay,
    IdentityConflictError,
    Snapshots,
    retry_on_conflict,
)

__version__ = "0.1.0"

__all__ = [
    "AccessDeniedError",
    "AccessStrategy",
    "AggregateRepository",
    "Cached",
    "ConcurrencyError",
    "ConfigurationError",
    "DuplicateEventTypeError",
    "Event",
    "EventAlreadyEmittedError",
    "EventDefinitionError",
    "EventMetadata",
    "EventSource",
    "EventSourced",
    "EventStream",
    "EventTypeRegistry",
    "FullReplay",
    "HandlerDefinitionError",
    "IdentityConflictError",
    "InMemoryEventSource",
    "InvalidKeyError",
    "JsonEventSerializer",
    "LocalFileError",
    "MessageContext",
    "MessageHandlerError",
    "MissingExtraError",
    "MissingHandlerError",
    "NotCommittedError",
    "OutcomeUnknownError",
    "Remedy",
    "ResourceNotFoundError",
    "SerializationError",
    "ServiceError",
    "ServiceUnavailableError",
    "SkipBadRows",
    "SnapshotDefinitionError",
    "SnapshotPolicy",
    "Snapshots",
    "StreamIntegrityError",
    "UnknownEventTypeError",
    "UnreadableEventError",
    "UnstorableEventError",
    "UpcastError",
    "__version__",
    "applies",
    "message_context",
    "retry_on_conflict",
]
