"""`Snapshots`: load from the aggregate's latest snapshot plus the events after it; take one when its policy says.

Loading is two requests on Table Storage whatever the stream's length: a point read of the
`$snapshot_` row and a range read from the snapshot's version on (that event is read again, which
proves the stream still holds it: a stream rewound or removed behind the snapshot's back is replayed
instead). A snapshot written by other code (another schema, see `messagehandler.domain.snapshots`),
or one whose state no longer validates, is ignored: the aggregate is replayed from its events, and
its next snapshot replaces the old one.

Taking a snapshot happens before the append, from the aggregate as its pending events leave it, so
the snapshot travels in the same transaction as the events that reach it.
"""

from __future__ import annotations

import logging
from typing import TypeVar

from pydantic import ValidationError

from messagehandler.domain.aggregate import EventSourced
from messagehandler.domain.snapshots import snapshot_schema
from messagehandler.errors import ConfigurationError
from messagehandler.eventsource.protocol import EventSource
from messagehandler.eventsource.snapshots import Snapshot, SnapshotSource
from messagehandler.repository.access import FULL_REPLAY

A = TypeVar("A", bound=EventSourced)

logger = logging.getLogger("messagehandler.repository")


class Snapshots:
    """The snapshot strategy, following the `SnapshotPolicy` each aggregate type declares."""

    async def load(self, source: EventSource, aggregate_type: type[A], id: str) -> A:
        """The aggregate from its snapshot and the events after it; a full replay when no valid snapshot exists.

        Raises:
            ConfigurationError: the source keeps no snapshots.
            SnapshotDefinitionError: the aggregate type declares no policy, or holds personal data.
        """
        policy = aggregate_type.snapshot_policy()
        schema = snapshot_schema(aggregate_type, policy)
        if not isinstance(source, SnapshotSource):
            raise ConfigurationError(
                f"{source!r} keeps no snapshots: load {aggregate_type.__qualname__} with FullReplay"
            )
        stream_type = aggregate_type.stream_type()
        stored = await source.read_snapshot(stream_type, id)
        if stored is not None and stored.schema == schema:
            aggregate = aggregate_type(id)
            try:
                aggregate.restore_snapshot(policy.state.model_validate_json(stored.state), stored.version)
            except ValidationError as error:
                logger.warning("snapshot of %s/%s no longer validates, replaying: %s", stream_type, id, error)
            else:
                tail = await source.load(stream_type, id, from_version=stored.version)
                if tail and tail[0].metadata.version == stored.version:
                    aggregate.restore_from(tail[1:])
                    return aggregate
                logger.warning(
                    "snapshot of %s/%s is at version %d, which the stream no longer holds; replaying",
                    stream_type,
                    id,
                    stored.version,
                )
        elif stored is not None:
            logger.debug(
                "snapshot of %s/%s was written by other code (schema %s), replaying", stream_type, id, stored.schema
            )
        return await FULL_REPLAY.load(source, aggregate_type, id)

    def snapshot(self, aggregate: EventSourced) -> Snapshot | None:
        """A snapshot of the aggregate as its pending events leave it, when its policy says one is due.

        Raises:
            SnapshotDefinitionError: the state model does not name exactly the aggregate's attributes,
                or the aggregate holds personal data; nothing is appended.
        """
        pending = aggregate.pending_events
        policy = type(aggregate).snapshot_policy()
        if not pending or not policy.due(aggregate, pending):
            return None
        schema = snapshot_schema(type(aggregate), policy)
        return Snapshot(aggregate.version, schema, aggregate.snapshot_state().model_dump_json())

    async def stored(self, source: EventSource, aggregate: EventSourced) -> None:
        return None

    def __repr__(self) -> str:
        return "Snapshots()"


SNAPSHOTS = Snapshots()
