"""The seed's transformation: every event becomes a small summary message for another service."""

from __future__ import annotations

from typing import NamedTuple

from reactivex import Observable

from messagehandler.processing import ActionableContext, ProcessingContext, transform


class EventSummary(NamedTuple):
    """A tuple: immutable, and cheaper to build per event than a frozen dataclass."""

    event_id: str
    event_type: str
    stream: str
    version: int


def summarize(context: ProcessingContext) -> EventSummary:
    meta = context.message.metadata
    return EventSummary(meta.event_id, meta.event_type, meta.stream, meta.version)


class SummaryQuery:
    """One summary per event; the source message is completed once the summary's action succeeded."""

    name = "summaries"

    def build(self, stream: Observable[ProcessingContext]) -> Observable[ActionableContext[EventSummary]]:
        return stream.pipe(transform(summarize))
