"""`Cached`: a state cache across units of work, in front of any other strategy (Equinox's `Caching`).

A hit is never served as current on trust: loading it reads the stream from the cached version on,
one request, and applies whatever other writers appended meanwhile. The read includes the event at
the cached version itself, compared by id with the last event the cached state applied
(`EventSourced.last_event_id`), so a stream that no longer holds that event (deleted, restored from
an older backup, even one written again up to the cached version since) is loaded afresh by the
inner strategy; a deleted stream raises as any load would. A race
after that read is the one every load has: the append's transaction detects it and raises
`ConcurrencyError`, `retry_on_conflict` runs the command again, and the retry's load catches up.

Entries are copies (`EventSourced.detached`): the state deep-copied, without history or pending events;
a hit hands out another copy, so no command ever changes a cached state. The cache is per process,
bounded (least recently used out first), and keyed by the store as well as the stream, so two
sources (or two tenants of a `TenantScopedEventSource`) never share entries: a source that delegates
(`current()`, as the tenant-scoped source and `ObservedSource` have) is keyed by the one it delegates to. It only ever holds states the store committed: entries are put after
an append succeeded or a load read the stream.

Aggregates holding personal data are not cached: their state would keep decrypted values in memory
after their data subject's key is erased, so `Cached` loads them through the inner strategy each time.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Protocol, TypeVar, runtime_checkable

from messagehandler.domain.aggregate import EventSourced
from messagehandler.events.personal import personal_fields
from messagehandler.eventsource.protocol import EventSource
from messagehandler.eventsource.snapshots import Snapshot
from messagehandler.repository.access import AccessStrategy
from messagehandler.repository.defaults import default_access

A = TypeVar("A", bound=EventSourced)

DEFAULT_MAXSIZE = 10_000

logger = logging.getLogger("messagehandler.repository")


@runtime_checkable
class ScopedSource(Protocol):
    """A source that delegates to another (a wrapper, or a tenant's source chosen by context); `current()` is it."""

    def current(self) -> EventSource: ...


class Cached:
    """Keep the latest committed state of up to `maxsize` aggregates; load a hit by reading only its newer events.

    `inner` loads misses and takes snapshots; by default each type's own default (`Snapshots` when
    it declares a snapshot policy, else `FullReplay`).
    """

    def __init__(self, inner: AccessStrategy | None = None, *, maxsize: int = DEFAULT_MAXSIZE) -> None:
        if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 1:
            raise ValueError(f"maxsize must be an int >= 1, got {maxsize!r}")
        self._inner = inner
        self._maxsize = maxsize
        self._states: OrderedDict[tuple[object, str, str], EventSourced] = OrderedDict()
        self._private: dict[type[EventSourced], bool] = {}

    @property
    def size(self) -> int:
        """How many states the cache holds."""
        return len(self._states)

    def _inner_for(self, aggregate_type: type[EventSourced]) -> AccessStrategy:
        return self._inner if self._inner is not None else default_access(aggregate_type)

    async def load(self, source: EventSource, aggregate_type: type[A], id: str) -> A:
        inner = self._inner_for(aggregate_type)
        if self._holds_personal_data(aggregate_type):
            return await inner.load(source, aggregate_type, id)
        key = _key(source, aggregate_type.stream_type(), id)
        hit = self._states.get(key)
        if type(hit) is aggregate_type:
            assert isinstance(hit, aggregate_type)
            self._states.move_to_end(key)
            tail = await source.load(aggregate_type.stream_type(), id, from_version=hit.version)
            if tail and tail[0].metadata.version == hit.version and tail[0].metadata.event_id == hit.last_event_id:
                try:
                    aggregate = hit.detached()
                except Exception:
                    logger.warning("cached state of %s/%s could not be copied, loading it", key[1], id, exc_info=True)
                else:
                    if len(tail) > 1:
                        aggregate.restore_from(tail[1:])
                        self._put(key, aggregate)
                    return aggregate
            self._states.pop(key, None)  # a concurrent load may have evicted it already
        aggregate = await inner.load(source, aggregate_type, id)
        if aggregate.version:
            self._put(key, aggregate)
        return aggregate

    def snapshot(self, aggregate: EventSourced) -> Snapshot | None:
        return self._inner_for(type(aggregate)).snapshot(aggregate)

    async def stored(self, source: EventSource, aggregate: EventSourced) -> None:
        if not self._holds_personal_data(type(aggregate)):
            self._put(_key(source, aggregate.stream_type(), aggregate.id), aggregate)
        await self._inner_for(type(aggregate)).stored(source, aggregate)

    def _put(self, key: tuple[object, str, str], aggregate: EventSourced) -> None:
        try:
            self._states[key] = aggregate.detached()
        except Exception:
            logger.warning("state of %s/%s could not be copied, not cached", key[1], key[2], exc_info=True)
            self._states.pop(key, None)
            return
        self._states.move_to_end(key)
        while len(self._states) > self._maxsize:
            self._states.popitem(last=False)

    def _holds_personal_data(self, aggregate_type: type[EventSourced]) -> bool:
        known = self._private.get(aggregate_type)
        if known is None:
            known = any(personal_fields(t) is not None for t in aggregate_type.handled_event_types())
            self._private[aggregate_type] = known
            if known:
                logger.warning(
                    "%s holds personal data, so the state cache does not keep it: it is loaded afresh each time",
                    aggregate_type.__qualname__,
                )
        return known

    def __repr__(self) -> str:
        return (
            f"Cached({self._inner!r}, maxsize={self._maxsize})" if self._inner else f"Cached(maxsize={self._maxsize})"
        )


def _key(source: EventSource, stream_type: str, id: str) -> tuple[object, str, str]:
    """The store serving this call (through any wrappers and tenant scopes), the stream type and id."""
    while isinstance(source, ScopedSource):
        source = source.current()
    return (source, stream_type, id)
