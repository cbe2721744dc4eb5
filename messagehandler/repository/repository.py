"""The unit of work: load aggregates, let commands change them, store what they emitted.

One repository is one unit of work. It keeps an identity map, so two `get` calls for the same
stream return the same object and a command sees its own changes. Each aggregate is stored
atomically; there is no transaction across aggregates (Table Storage has none across partitions),
so a flush touching several aggregates can store some and fail on others. The error says which.

A repository dropped (or still alive at interpreter exit) while aggregates hold events nobody flushed
logs an error naming them on the `messagehandler.repository` logger: those events were never stored,
and a forgotten `await repository.flush()` would otherwise go unnoticed.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, TypeVar

from messagehandler.domain.aggregate import EventSourced
from messagehandler.errors import MessageHandlerError
from messagehandler.events.event import Event
from messagehandler.eventsource.outbox import OutboxEntry

if TYPE_CHECKING:
    from messagehandler.channels.dispatcher import Dispatcher
from messagehandler.eventsource.append_options import append
from messagehandler.eventsource.keys import validate_stream
from messagehandler.eventsource.memory import InMemoryEventSource
from messagehandler.eventsource.protocol import EventSource
from messagehandler.repository.access import AccessStrategy
from messagehandler.repository.defaults import default_access
from messagehandler.telemetry.spans import traced

A = TypeVar("A", bound=EventSourced)

logger = logging.getLogger("messagehandler.repository")


def _report_unflushed(identity: dict[tuple[str, str], EventSourced], offered: dict[int, Event]) -> None:
    """Log aggregates holding events no flush was asked to store; a failed flush already told its caller."""
    unflushed = [a for a in identity.values() if a.pending_events and offered.get(id(a)) is not a.pending_events[-1]]
    if unflushed:
        streams = ", ".join(f"{a.stream_type()}/{a.id} ({len(a.pending_events)} events)" for a in unflushed)
        logger.error(
            "a repository was dropped with events that were never flushed, so they are not stored: %s; "
            "call `await repository.flush()` after the commands",
            streams,
        )


class IdentityConflictError(MessageHandlerError):
    """Two different objects claim the same stream within one unit of work."""


class AggregateRepository:
    """Gets aggregates from an event source and flushes their pending events back to it."""

    def __init__(
        self,
        source: EventSource | None = None,
        *,
        dispatcher: Dispatcher | None = None,
        access: Mapping[type[EventSourced], AccessStrategy] | None = None,
    ) -> None:
        self.source: EventSource = source if source is not None else InMemoryEventSource()
        self.dispatcher = dispatcher
        self.access: Mapping[type[EventSourced], AccessStrategy] = access if access is not None else {}
        self._known: set[tuple[str, str]] = set()
        self._identity: dict[tuple[str, str], EventSourced] = {}
        self._offered: dict[int, Event] = {}  # per aggregate (by id): its last pending event when flush last ran
        weakref.finalize(self, _report_unflushed, self._identity, self._offered)
        self._registered: set[type[EventSourced]] = set()
        self.last_flush_committed: list[Event] = []

    def _access(self, aggregate_type: type[EventSourced]) -> AccessStrategy:
        strategy = self.access.get(aggregate_type)
        return strategy if strategy is not None else default_access(aggregate_type)

    def _register(self, aggregate_type: type[EventSourced]) -> None:
        if aggregate_type not in self._registered:
            if aggregate_type.__snapshots__ is not None:
                aggregate_type.check_snapshot_definition()
            self.source.registry.register(*aggregate_type.handled_event_types())
            self._registered.add(aggregate_type)

    async def get(self, aggregate_type: type[A], id: str) -> A:
        """The aggregate as its events describe it; a new, empty one when its stream does not exist.

        `aggregate_type(id)` must construct an empty aggregate. It is loaded by the type's access
        strategy (`access=`; by default `FullReplay`, or `Snapshots` when the type declares a snapshot
        policy), once per unit of work.

        Raises:
            StreamDeletedError: the stream was deleted.
            IdentityConflictError: the stream is already held in this unit of work as another type.
            ServiceUnavailableError: the store could not be read; retry later.
        """
        stream_type = aggregate_type.__stream_type__
        key = (stream_type, id)
        known = self._identity.get(key)
        if known is not None:
            if not isinstance(known, aggregate_type):
                raise IdentityConflictError(
                    f"stream {stream_type}/{id} is already held as a {type(known).__qualname__}, "
                    f"not a {aggregate_type.__qualname__}"
                )
            return known
        validate_stream(stream_type, id)
        self._register(aggregate_type)
        aggregate = await self._access(aggregate_type).load(self.source, aggregate_type, id)
        self._identity[key] = aggregate
        self._known.add(key)
        return aggregate

    def add(self, aggregate: EventSourced) -> None:
        """Track an aggregate created by a command, so the next flush stores it."""
        key = (aggregate.__stream_type__, aggregate.id)
        validate_stream(*key)
        known = self._identity.get(key)
        if known is not None and known is not aggregate:
            raise IdentityConflictError(f"another object for stream {key[0]}/{key[1]} is already in this unit of work")
        self._register(type(aggregate))
        self._identity[key] = aggregate

    @traced("repository.flush")
    async def flush(self) -> list[Event]:
        """Store the pending events of every touched aggregate, each atomically; return what was committed.

        When some aggregates fail (a `ConcurrencyError`, a storage error), the ones stored are committed
        and listed in `last_flush_committed`, and the first error is raised with the others as notes.
        With a dispatcher, each aggregate's events are published right after its commit; a publishing
        failure is logged and left in the outbox for the relay, never raised: the events are stored.
        """
        touched = [aggregate for aggregate in self._identity.values() if aggregate._pending]
        self._offered.update((id(aggregate), aggregate._pending[-1]) for aggregate in touched)
        self.last_flush_committed = []
        if not touched:
            return []
        if len(touched) == 1:
            self.last_flush_committed = await self._store(touched[0])
            return list(self.last_flush_committed)
        outcomes = await asyncio.gather(*(self._store(aggregate) for aggregate in touched), return_exceptions=True)
        errors: list[BaseException] = []
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                errors.append(outcome)
            else:
                self.last_flush_committed.extend(outcome)
        if errors:
            first = errors[0]
            for other in errors[1:]:
                first.add_note(f"also failed in the same flush: {other}")
            if self.last_flush_committed:
                streams = sorted({event.metadata.stream for event in self.last_flush_committed})
                first.add_note(f"stored in the same flush: {', '.join(streams)}")
            raise first
        return list(self.last_flush_committed)

    async def _store(self, aggregate: EventSourced) -> list[Event]:
        """Append the aggregate's pending events, with a snapshot when one is due: one request when it was loaded here.

        The repository read the stream's event at the committed version when it loaded or last
        stored the aggregate, so the append skips the source's existence check (`version_known`).
        An aggregate brought in with `add` at a version above 0 was not read here and keeps the check.
        """
        key = (aggregate.__stream_type__, aggregate.id)
        access = self._access(type(aggregate))
        snapshot = access.snapshot(aggregate)
        entry: OutboxEntry | None = await append(
            self.source,
            key[0],
            aggregate.id,
            aggregate.committed_version,
            aggregate._pending,
            version_known=key in self._known,
            snapshot=snapshot,
        )
        committed = aggregate.commit()
        self._known.add(key)
        try:
            await access.stored(self.source, aggregate)
        except Exception:
            logger.exception("the access strategy of %s/%s failed after its commit", key[0], aggregate.id)
        if self.dispatcher is not None:
            await self.dispatcher.dispatch(self.source, entry, committed)
        return committed
