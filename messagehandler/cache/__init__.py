"""The event cache: a store's streams copied to local LZ4-compressed MessagePack files (the `cache` extra).

`CacheReplicator` copies and resumes, `CacheReader` streams raw events from any sequence number, and
`CacheEventSource` lets any consumer of an `EventSource`, such as a projector, restore from the cache.
"""

from messagehandler.cache.errors import (
    CacheCorruptError,
    CacheError,
    CacheFileError,
    CacheLockedError,
    CacheNotFoundError,
    CacheRepairError,
    CacheVersionError,
)
from messagehandler.cache.format import FORMAT_VERSION
from messagehandler.cache.passthrough import PassThroughSerializer, StoredBody
from messagehandler.cache.raw import RawEvent
from messagehandler.cache.reader import CacheReader
from messagehandler.cache.replicator import CacheReplicator, ReplicationProgress, ReplicationSummary
from messagehandler.cache.source import CacheEventSource, ReadOnlyCacheError

__all__ = [
    "FORMAT_VERSION",
    "CacheCorruptError",
    "CacheError",
    "CacheEventSource",
    "CacheFileError",
    "CacheLockedError",
    "CacheNotFoundError",
    "CacheReader",
    "CacheRepairError",
    "CacheReplicator",
    "CacheVersionError",
    "PassThroughSerializer",
    "RawEvent",
    "ReadOnlyCacheError",
    "ReplicationProgress",
    "ReplicationSummary",
    "StoredBody",
]
