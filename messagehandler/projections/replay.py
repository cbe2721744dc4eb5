"""Replays you can trust: restore the same events twice, in a different order of streams, and compare.

A projection that reads the clock, draws random numbers, or keeps state across streams in the
projection object builds records that depend on when and in what order they were restored. Such a
projection passes every example-based test and then disagrees with itself after a rebuild. This
check makes it fail in a test instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from messagehandler.eventsource.protocol import EventStream
from messagehandler.projections.builder import Factory, RecordBuilder
from messagehandler.projections.errors import NonDeterministicProjectionError
from messagehandler.projections.projector import Projector
from messagehandler.projections.records import codec_for

R = TypeVar("R")


@dataclass(frozen=True)
class RecordDifference:
    """One stream whose record differed between the two restores (None: no record that time)."""

    stream_id: str
    first: Any
    second: Any


@dataclass(frozen=True)
class ReplayReport:
    record_type: type[Any]
    streams: int
    differences: list[RecordDifference]

    @property
    def deterministic(self) -> bool:
        return not self.differences

    def raise_for_differences(self) -> None:
        if self.differences:
            shown = "; ".join(f"{d.stream_id}: {d.first!r} != {d.second!r}" for d in self.differences[:3])
            raise NonDeterministicProjectionError(
                f"restoring {self.record_type.__qualname__} twice gave different records for "
                f"{len(self.differences)} of {self.streams} streams: {shown}"
            )


async def verify_replay(
    projector: Projector, record_type: type[R], stream_type: str, *, factory: Factory[R] | None = None
) -> ReplayReport:
    """Restore `record_type` from the store twice and report every record that differs.

    Meant for tests: the events of the stream type are held in memory for the two restores.
    """
    streams = [stream async for stream in projector.source.read_type(stream_type)]
    return compare_replays(projector.builder(record_type), streams, factory)


def compare_replays(
    builder: RecordBuilder[R], streams: Sequence[EventStream], factory: Factory[R] | None
) -> ReplayReport:
    make = factory if factory is not None else builder.default_factory
    first = _restore(builder, streams, make)
    second = _restore(builder, list(reversed(streams)), make)
    dump = codec_for(builder.record_type).dump
    differences = []
    for stream in streams:
        a, b = first.get(stream.stream_id), second.get(stream.stream_id)
        dumped_a = None if a is None else dump(a)
        dumped_b = None if b is None else dump(b)
        if dumped_a != dumped_b:
            differences.append(RecordDifference(stream.stream_id, dumped_a, dumped_b))
    return ReplayReport(builder.record_type, len(streams), differences)


def _restore(builder: RecordBuilder[R], streams: Sequence[EventStream], factory: Factory[R]) -> dict[str, Any]:
    records: dict[str, Any] = {}
    for stream in streams:
        record = builder.project(None, stream.events, stream.stream_id, factory)
        if record is not None:
            records[stream.stream_id] = record
    return records
