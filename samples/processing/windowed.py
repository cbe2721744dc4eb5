"""A windowed aggregation: count and average of readings per sensor per tumbling time window.

Windows are aligned across sensors (one `buffer_with_time` over the whole stream, then grouped),
so every aggregate of a window has the same end time, and a window without readings yields nothing.
Readings are held from the moment they enter the window, so each is settled only after the action
for its window's aggregate succeeded.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import reactivex
from reactivex import Observable
from reactivex import operators as ops
from reactivex.scheduler import ImmediateScheduler

from messagehandler.processing import ActionableContext, ProcessingContext, held
from samples.processing.telemetry import ReadingRecorded


@dataclass(frozen=True, slots=True)
class SensorWindow:
    sensor: str
    window_end: datetime
    count: int
    average: float


def _is_reading(context: ProcessingContext) -> bool:
    return isinstance(context.message, ReadingRecorded)


def aggregate(contexts: list[ProcessingContext], window_end: datetime) -> Iterable[ActionableContext[SensorWindow]]:
    by_sensor: dict[str, list[ProcessingContext]] = defaultdict(list)
    for context in contexts:
        by_sensor[_reading(context).sensor].append(context)
    for sensor, readings in sorted(by_sensor.items()):
        total = sum(_reading(context).value for context in readings)
        window = SensorWindow(sensor, window_end, len(readings), total / len(readings))
        yield ActionableContext.from_many(window, readings)


def _reading(context: ProcessingContext) -> ReadingRecorded:
    message = context.message
    assert isinstance(message, ReadingRecorded)
    return message


_NOW = ImmediateScheduler.singleton()
"""Aggregates of a closed window go out at once, not one scheduler hop each."""


class SensorAverages:
    """Count and average per sensor for each `window` of (scheduler) time."""

    name = "sensor-averages"

    def __init__(self, window: timedelta) -> None:
        self.window = window

    def build(self, stream: Observable[ProcessingContext]) -> Observable[ActionableContext[SensorWindow]]:
        return stream.pipe(
            ops.filter(_is_reading),
            held(),
            ops.buffer_with_time(self.window),
            ops.timestamp(),
            ops.flat_map(lambda stamped: reactivex.from_iterable(aggregate(stamped.value, stamped.timestamp), _NOW)),
        )
