"""The event-store source's saved position: durable, and never ahead of what was processed."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from messagehandler import InMemoryEventSource, JsonEventSerializer
from messagehandler.eventsource.positions import TypePosition
from messagehandler.processing import DocumentPositionStore, MemoryPositionStore
from messagehandler.processing.sources import CatchUpReceiver
from messagehandler.projections import FileCheckpointStore
from messagehandler.testing import recorded
from samples.processing.telemetry import ReadingRecorded


def reading(stream: str, version: int) -> list[ReadingRecorded]:
    return recorded("Plant", stream, [ReadingRecorded(sensor=stream, value=float(version))], start_version=version)  # type: ignore[return-value]


async def test_the_saved_high_water_mark_waits_for_every_stream_of_the_pass(serializer: JsonEventSerializer) -> None:
    """x holds the newest event but comes first; y's older event must not fall behind the saved mark."""
    store = InMemoryEventSource(serializer.registry)
    await store.append("Plant", "x", 0, reading("x", 1))
    await store.append("Plant", "y", 0, reading("y", 1))
    await store.append("Plant", "x", 1, reading("x", 2))
    newest = (await store.load("Plant", "x"))[-1].metadata.stored_at
    positions = MemoryPositionStore()
    receiver = CatchUpReceiver(store, "Plant", serializer, positions, margin=timedelta(0))

    first = await receiver.receive(2, wait=timedelta(0))
    assert [m.envelope.subject for m in first] == ["Plant/x", "Plant/x"]
    for message in first:
        await message.complete()

    saved = await positions.load(receiver.name)
    assert saved is not None
    assert saved.versions == {"x": 2}
    assert saved.high_water is None, "y is still unprocessed: a restart must read it again"

    (last,) = await receiver.receive(2, wait=timedelta(0))
    await last.complete()

    saved = await positions.load(receiver.name)
    assert saved is not None
    assert saved.versions == {"x": 2, "y": 1}
    assert saved.high_water == newest


async def test_positions_survive_in_a_file_store(serializer: JsonEventSerializer, tmp_path: Path) -> None:
    store = InMemoryEventSource(serializer.registry)
    await store.append("Plant", "x", 0, reading("x", 1))
    positions = DocumentPositionStore(FileCheckpointStore(tmp_path))
    receiver = CatchUpReceiver(store, "Plant", serializer, positions, margin=timedelta(0))
    for message in await receiver.receive(8, wait=timedelta(0)):
        await message.complete()

    reopened = await DocumentPositionStore(FileCheckpointStore(tmp_path)).load(receiver.name)

    assert isinstance(reopened, TypePosition)
    assert reopened.versions == {"x": 1}
    assert reopened.high_water is not None
    assert await FileCheckpointStore(tmp_path).read("position-eventstore-Plant") is not None
