"""Actions: what the host does with each outcome of a standing query."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Generic, TypeVar

from messagehandler.events.event import Event
from messagehandler.processing.context import ActionableContext

if TYPE_CHECKING:
    from messagehandler.projections.projector import Projector
    from messagehandler.search.protocol import SearchIndex

T = TypeVar("T")
R = TypeVar("R")

Action = Callable[[ActionableContext[T]], Awaitable[None]]
"""An async callable; raising fails every source context of the outcome (they are redelivered)."""


class ProjectionAction(Generic[R]):
    """The seed's real-time projection: get the stream's record from the index, apply the event, upsert.

    Use it with a query whose outcomes are the events themselves (`transform(lambda c: c.message)`).
    Delivery is at least once, so an event can be applied twice after a redelivery: give records a
    version field and skip older events in the projection when that matters.
    """

    def __init__(
        self,
        projector: Projector,
        index: SearchIndex[R],
        record_type: type[R],
        *,
        factory: Callable[[str], R] | None = None,
    ) -> None:
        self.projector = projector
        self.index = index
        self.record_type = record_type
        self.factory = factory

    async def __call__(self, outcome: ActionableContext[Event]) -> None:
        event = outcome.message
        stream_id = event.metadata.source_id
        record = await self.index.get(stream_id)
        if record is None:
            record = self.factory(stream_id) if self.factory is not None else self.record_type()
        await self.index.upsert({stream_id: self.projector.invoke(record, event)})
