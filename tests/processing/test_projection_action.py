"""The simple style: a real-time projection into the SQLite search index, one action per event."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from messagehandler import InMemoryEventSource, JsonEventSerializer
from messagehandler.processing import ActionableContext, ProcessingHost, ProjectionAction, channel_source, transform
from messagehandler.projections.projection import Projection
from messagehandler.projections.projector import Projector
from messagehandler.search import SqliteSearchIndex
from samples.processing.telemetry import ReadingRecorded
from tests.processing.conftest import readings
from tests.processing.fakes import MemoryQueue, eventually


@dataclass
class PlantRecord:
    sensors: str = ""
    readings: int = 0


class PlantProjection(Projection[PlantRecord]):
    def project(self, record: PlantRecord, event: ReadingRecorded) -> None:
        names = set(record.sensors.split()) | {event.sensor}
        record.sensors = " ".join(sorted(names))
        record.readings += 1


class EveryEvent:
    def build(self, stream: Any) -> Any:
        return stream.pipe(transform(lambda context: context.message))


async def test_each_event_updates_its_record_in_the_index(queue: MemoryQueue, serializer: JsonEventSerializer) -> None:
    queue.put(readings(serializer, ("boiler", 1.0), ("chiller", 2.0), ("boiler", 3.0), stream="plant-7"))
    index = SqliteSearchIndex(PlantRecord)
    projector = Projector(InMemoryEventSource(serializer.registry), PlantProjection)
    action: ProjectionAction[PlantRecord] = ProjectionAction(projector, index, PlantRecord)

    async def project(outcome: ActionableContext[Any]) -> None:
        await action(outcome)

    source = channel_source(queue, wait=timedelta(milliseconds=10))
    async with ProcessingHost(source, serializer, action_concurrency=1).add(EveryEvent(), project):
        await eventually(lambda: len(queue.outcomes("complete")) == 3, what="all projected")
    assert await index.get("plant-7") == PlantRecord(sensors="boiler chiller", readings=3)
    [hit] = await index.search("chiller")
    assert hit.id == "plant-7"
    await index.close()
