"""The access strategy of an aggregate type nobody chose one for."""

from __future__ import annotations

from messagehandler.domain.aggregate import EventSourced
from messagehandler.repository.access import FULL_REPLAY, AccessStrategy
from messagehandler.repository.snapshots import SNAPSHOTS


def default_access(aggregate_type: type[EventSourced]) -> AccessStrategy:
    """`Snapshots` for a type that declares a snapshot policy, `FullReplay` for any other."""
    return FULL_REPLAY if aggregate_type.__snapshots__ is None else SNAPSHOTS
