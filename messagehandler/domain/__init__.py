"""Aggregates: `EventSourced`, the discovery of its apply handlers, and its snapshot policy."""

from messagehandler.domain.aggregate import EventSourced
from messagehandler.domain.handlers import applies
from messagehandler.domain.snapshots import SnapshotDefinitionError, SnapshotPolicy

__all__ = ["EventSourced", "SnapshotDefinitionError", "SnapshotPolicy", "applies"]
