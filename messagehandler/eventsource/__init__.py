"""Event sources: the `EventSource` protocol, its in-memory implementation, and the rules they share."""

from messagehandler.eventsource.bad_rows import SkipBadRows
from messagehandler.eventsource.keys import InvalidKeyError, validate_stream
from messagehandler.eventsource.lifecycle import (
    LifecycleRecord,
    StreamArchivedError,
    StreamDeletedError,
    StreamLifecycle,
    StreamLifecycleError,
    StreamNotFoundError,
    StreamState,
    UnpublishedEventsError,
)
from messagehandler.eventsource.limit_errors import (
    EntityTooLargeError,
    PropertyTooLargeError,
    TableLimitError,
    TooManyEntitiesError,
    TooManyPropertiesError,
    TransactionTooLargeError,
    VersionLimitError,
)
from messagehandler.eventsource.limits import DEFAULT_LIMITS, TableLimits
from messagehandler.eventsource.memory import InMemoryEventSource
from messagehandler.eventsource.protocol import EventSource, EventStream
from messagehandler.eventsource.snapshots import Snapshot, SnapshotSource

__all__ = [
    "DEFAULT_LIMITS",
    "EntityTooLargeError",
    "EventSource",
    "EventStream",
    "InMemoryEventSource",
    "InvalidKeyError",
    "LifecycleRecord",
    "PropertyTooLargeError",
    "SkipBadRows",
    "Snapshot",
    "SnapshotSource",
    "StreamArchivedError",
    "StreamDeletedError",
    "StreamLifecycle",
    "StreamLifecycleError",
    "StreamNotFoundError",
    "StreamState",
    "TableLimitError",
    "TableLimits",
    "TooManyEntitiesError",
    "TooManyPropertiesError",
    "TransactionTooLargeError",
    "UnpublishedEventsError",
    "VersionLimitError",
    "validate_stream",
]
