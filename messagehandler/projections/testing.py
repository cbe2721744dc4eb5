"""Test helpers: restore or invoke projections on in-memory events in one line, no event source needed.

    entries = restore_records(SearchEntry, recorded("Organization", "acme", [registered]), SearchEntryProjection)

Events must carry metadata (stamp them with `messagehandler.testing.recorded`), because records are
grouped by the events' stream ids.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from messagehandler.events.event import Event
from messagehandler.eventsource.protocol import EventStream
from messagehandler.projections.builder import Factory, RecordBuilder
from messagehandler.projections.errors import ProjectionError
from messagehandler.projections.projector import ProjectionLike, builder_for, instantiate
from messagehandler.projections.replay import ReplayReport, compare_replays

R = TypeVar("R")


def _builder(record_type: type[R], projections: tuple[ProjectionLike, ...]) -> RecordBuilder[R]:
    return builder_for(record_type, instantiate(projections))


def _streams(events: Iterable[Event]) -> list[EventStream]:
    grouped: dict[str, list[Event]] = {}
    for event in events:
        if not event.has_metadata:
            raise ProjectionError(
                f"{type(event).__qualname__} has no metadata: stamp test events with messagehandler.testing.recorded"
            )
        grouped.setdefault(event.metadata.source_id, []).append(event)
    return [EventStream(group[0].metadata.source_type, stream_id, group) for stream_id, group in grouped.items()]


def restore_records(
    record_type: type[R], events: Iterable[Event], *projections: ProjectionLike, factory: Factory[R] | None = None
) -> dict[str, R]:
    """Records by stream id, as `Projector.restore` would build them from a store holding `events`."""
    builder = _builder(record_type, projections)
    make = factory if factory is not None else builder.default_factory
    records: dict[str, R] = {}
    for stream in _streams(events):
        record = builder.project(records.get(stream.stream_id), stream.events, stream.stream_id, make)
        if record is not None:
            records[stream.stream_id] = record
    return records


def restore_record(
    record_type: type[R], events: Iterable[Event], *projections: ProjectionLike, factory: Factory[R] | None = None
) -> R | None:
    """The record of the one stream `events` belong to; None when no projection handled any of them."""
    records = restore_records(record_type, events, *projections, factory=factory)
    if len(records) > 1:
        raise ProjectionError(f"events of {len(records)} streams given; use restore_records")
    return next(iter(records.values()), None)


def invoke(record: R, events: Event | Iterable[Event], *projections: ProjectionLike) -> R:
    """`record` after the event(s), as the real-time path would update it."""
    builder = _builder(type(record), projections)
    for event in [events] if isinstance(events, Event) else events:
        record = builder.invoke(record, event)
    return record


def verify_replay_of(
    record_type: type[R], events: Iterable[Event], *projections: ProjectionLike, factory: Factory[R] | None = None
) -> ReplayReport:
    """`replay.verify_replay` on in-memory events."""
    return compare_replays(_builder(record_type, projections), _streams(events), factory)
