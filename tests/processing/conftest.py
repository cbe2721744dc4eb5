from __future__ import annotations

import pytest

from messagehandler import EventTypeRegistry, JsonEventSerializer
from messagehandler.testing import recorded
from samples.processing.telemetry import ReadingRecorded
from tests.processing.fakes import MemoryQueue, envelopes


@pytest.fixture
def serializer() -> JsonEventSerializer:
    return JsonEventSerializer(EventTypeRegistry([ReadingRecorded]))


@pytest.fixture
def queue() -> MemoryQueue:
    return MemoryQueue()


def readings(serializer: JsonEventSerializer, *values: tuple[str, float], stream: str = "plant-1") -> list:  # type: ignore[type-arg]
    events = recorded("Plant", stream, [ReadingRecorded(sensor=sensor, value=value) for sensor, value in values])
    return envelopes(events, serializer)
