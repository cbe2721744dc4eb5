"""The event-store source's saved position: durable, and never ahead of what was processed."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from messagehandler import InMemoryEventSource, JsonEventSerializer
from messagehandler.eventsource.positions import TypePosition
from messagehandler.processing import CorruptPositionError, DocumentPositionStore, MemoryPositionStore
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


@pytest.mark.parametrize(
    "damage",
    [b"{not json", b"\xff\xfe", b"[" * 100_000, b"[]", b'{"versions": {"x": "one"}}', b'{"high_water": "noon"}'],
    ids=["not-json", "not-utf8", "nested-too-deep", "not-an-object", "bad-version", "bad-time"],
)
async def test_a_corrupt_position_document_is_a_typed_error_naming_it(
    serializer: JsonEventSerializer, tmp_path: Path, damage: bytes
) -> None:
    documents = FileCheckpointStore(tmp_path)
    await documents.write("position-eventstore-Plant", damage)
    receiver = CatchUpReceiver(
        InMemoryEventSource(serializer.registry), "Plant", serializer, DocumentPositionStore(documents)
    )

    with pytest.raises(CorruptPositionError, match="'position-eventstore-Plant' in FileCheckpointStore") as caught:
        await receiver.receive(8, wait=timedelta(0))

    assert caught.value.document == "position-eventstore-Plant"
    assert not caught.value.retryable
    assert await documents.read("position-eventstore-Plant") == damage, "nothing is written over it"
