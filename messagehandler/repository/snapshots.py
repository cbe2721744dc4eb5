"""`Snapshots`: load from the aggregate's latest snapshot plus the events after it; take one when its policy says.

Loading is two requests on Table Storage whatever the stream's length: a point read of the
`$snapshot_` row and a range read from the snapshot's version on. That event is read again and its
id compared with the one the snapshot keeps, which proves the stream still holds the event the state
was taken after: a stream rewound or removed behind the snapshot's back, or restored from an older
backup and written again up to the snapshot's version with other events, is replayed instead. A
snapshot stored before event ids were kept cannot be checked so, and is treated as one that no longer
fits: replayed over, and replaced with the next append. A snapshot written by other code (another schema, see `messagehandler.domain.snapshots`),
or one whose state no longer validates, is ignored: the aggregate is replayed from its events, and
its next snapshot replaces the old one.

Taking a snapshot happens before the append, from the aggregate as its pending events leave it, so
the snapshot travels in the same transaction as the events that reach it. Writing one is best-effort:
a state that cannot be captured or written (a value the state model does not validate, an attribute
it does not name) leaves the snapshot out, logged once per aggregate type with the reason, and the
events are stored as usual; a snapshot that could fail the flush would block the aggregate for good,
since its committed version would stay below the point where one is due. What can be found without a
state, the state model naming other attributes than a new aggregate has, is refused when the type is
first used (`check_definition`), before anything is written. An aggregate loaded past a snapshot it
could not use takes a new one with its next append, instead of replaying until the policy's next one.

A source that keeps no snapshots (a custom one, a `CacheEventSource`) is read by full replay, said
once per source class.

A snapshot is held to what events are held to, "what append accepts, load returns": a state that
would not read back as it is (NaN or infinity, which JSON writes as null; nesting deeper than readers
go) is left out the same way, the warning naming the aggregate, its version and the field.
"""

from __future__ import annotations

import logging
import weakref
from typing import TypeVar

from pydantic import ValidationError

from messagehandler.domain.aggregate import EventSourced
from messagehandler.domain.snapshots import snapshot_schema
from messagehandler.events.round_trip import body_problem
from messagehandler.eventsource.protocol import EventSource
from messagehandler.eventsource.snapshots import Snapshot, SnapshotSource
from messagehandler.repository.access import FULL_REPLAY

A = TypeVar("A", bound=EventSourced)

logger = logging.getLogger("messagehandler.repository")


class Snapshots:
    """The snapshot strategy, following the `SnapshotPolicy` each aggregate type declares."""

    def __init__(self) -> None:
        self._overdue: weakref.WeakSet[EventSourced] = weakref.WeakSet()
        self._told: set[tuple[type, str]] = set()

    async def load(self, source: EventSource, aggregate_type: type[A], id: str) -> A:
        """The aggregate from its snapshot and the events after it; a full replay when no valid snapshot exists.

        Raises:
            SnapshotDefinitionError: the aggregate type declares no policy, holds personal data, or its
                state model names other attributes than a new aggregate has.
        """
        policy = aggregate_type.snapshot_policy()
        schema = snapshot_schema(aggregate_type, policy)
        aggregate_type.check_snapshot_definition()
        stream_type = aggregate_type.stream_type()
        if not isinstance(source, SnapshotSource):
            self._tell_once(
                type(source),
                "no snapshots",
                "%s keeps no snapshots: aggregates with a snapshot policy are loaded from it by replaying their events",
                type(source).__qualname__,
            )
            return await FULL_REPLAY.load(source, aggregate_type, id)
        stored = await source.read_snapshot(stream_type, id)
        if stored is not None and stored.schema == schema and stored.event_id is not None:
            aggregate = aggregate_type(id)
            try:
                aggregate.restore_snapshot(
                    policy.state.model_validate_json(stored.state), stored.version, stored.event_id
                )
            except ValidationError as error:
                logger.warning("snapshot of %s/%s no longer validates, replaying: %s", stream_type, id, error)
            else:
                tail = await source.load(stream_type, id, from_version=stored.version)
                if tail and tail[0].metadata.version == stored.version and tail[0].metadata.event_id == stored.event_id:
                    aggregate.restore_from(tail[1:])
                    return aggregate
                logger.warning(
                    "snapshot of %s/%s is at version %d, which the stream no longer holds (the event there is "
                    "another one, or none); replaying",
                    stream_type,
                    id,
                    stored.version,
                )
        elif stored is not None and stored.schema == schema:
            logger.debug("snapshot of %s/%s names no event id (stored by an older release), replaying", stream_type, id)
        elif stored is not None:
            logger.debug(
                "snapshot of %s/%s was written by other code (schema %s), replaying", stream_type, id, stored.schema
            )
        replayed = await FULL_REPLAY.load(source, aggregate_type, id)
        if stored is not None:
            self._overdue.add(replayed)
        return replayed

    def snapshot(self, aggregate: EventSourced) -> Snapshot | None:
        """A snapshot of the aggregate as its pending events leave it, when its policy says one is due; best-effort.

        Due by the policy, or at once when the load found the stored snapshot unusable. None, logged
        once per aggregate type, when the state cannot be captured or written.
        """
        pending = aggregate.pending_events
        policy = type(aggregate).snapshot_policy()
        if not pending or not (policy.due(aggregate, pending) or aggregate in self._overdue):
            return None
        try:
            schema = snapshot_schema(type(aggregate), policy)
            model = aggregate.snapshot_state()
            state = model.model_dump_json()
        except Exception as error:
            self._tell_once(
                type(aggregate),
                "capture",
                "no snapshot of %s is stored (the events are, as usual; loads replay them): %s",
                type(aggregate).__qualname__,
                f"{type(error).__name__}: {' '.join(str(error).split())}",
            )
            return None
        found = body_problem(model, state)
        if found is not None:
            field, problem = found
            self._tell_once(
                type(aggregate),
                "read back",
                "snapshot of %s %s/%s at version %d left out, the events are stored as usual (loads replay "
                "them): it would not read back as it is: state %s %s",
                type(aggregate).__qualname__,
                aggregate.stream_type(),
                aggregate.id,
                aggregate.version,
                f"field {field!r}" if field else "",
                problem,
            )
            return None
        self._overdue.discard(aggregate)
        return Snapshot(aggregate.version, schema, state, aggregate.last_event_id)

    def _tell_once(self, kind: type, what: str, message: str, *args: object) -> None:
        """Warn the first time for a class, then at debug level: the reason stays the same, only the ids vary."""
        first = (kind, what) not in self._told
        self._told.add((kind, what))
        logger.log(logging.WARNING if first else logging.DEBUG, message, *args)

    async def stored(self, source: EventSource, aggregate: EventSourced) -> None:
        return None

    def __repr__(self) -> str:
        return "Snapshots()"


SNAPSHOTS = Snapshots()
