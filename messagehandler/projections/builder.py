"""Applying events to records: the dispatch loop every restore, catch-up and invoke runs through.

The projections building one record type are compiled into one table, event class -> bound handlers,
so projecting an event is a dict lookup and a call per handler. The table fills lazily and caches
misses, so events no projection handles cost one lookup.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Generic, TypeVar

from messagehandler.events.event import Event
from messagehandler.projections.errors import RecordFactoryError
from messagehandler.projections.projection import Projection

R = TypeVar("R")

Factory = Callable[[str], R]
_Handler = Callable[[Any, Event], Any]


class RecordBuilder(Generic[R]):
    """Builds records of one type with the projections given, in their order."""

    def __init__(self, record_type: type[R], projections: Sequence[Projection[Any]]) -> None:
        self.record_type = record_type
        self.projections = tuple(projections)
        self._tables = [(projection, type(projection).handler_table()) for projection in self.projections]
        self._routes: dict[type[Event], tuple[_Handler, ...]] = {}

    def _route(self, event_type: type[Event]) -> tuple[_Handler, ...]:
        handlers = []
        for projection, table in self._tables:
            found = table.find(event_type)
            if found is not None:
                handlers.append(found.__get__(projection))
        route = tuple(handlers)
        self._routes[event_type] = route
        return route

    def handles(self, event_type: type[Event]) -> bool:
        return bool(self._routes.get(event_type) or self._route(event_type))

    def default_factory(self, stream_id: str) -> R:
        try:
            return self.record_type()
        except TypeError as error:
            raise RecordFactoryError(
                f"cannot create a {self.record_type.__qualname__} for stream {stream_id!r} without arguments "
                f"({error}); give defaults to its fields or pass factory=lambda stream_id: ..."
            ) from None

    def project(self, record: R | None, events: Iterable[Event], stream_id: str, factory: Factory[R]) -> R | None:
        """`record` (created with `factory` at the first handled event when None) after `events`.

        Returns None when no event had a handler and no record was given: a stream that never
        touched this read model has no record.
        """
        routes = self._routes
        for event in events:
            handlers = routes.get(type(event))
            if handlers is None:
                handlers = self._route(type(event))
            if handlers:
                if record is None:
                    record = factory(stream_id)
                for handler in handlers:
                    result = handler(record, event)
                    if result is not None:
                        record = result
        return record

    def invoke(self, record: R, event: Event) -> R:
        projected = self.project(record, (event,), "", self.default_factory)
        assert projected is not None
        return projected
