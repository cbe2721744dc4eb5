"""Durable read models: checkpoints, catch-up cost, and the edge cases of positions without a global sequence."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from messagehandler import EventSource
from messagehandler.projections import (
    CheckpointError,
    CheckpointFileError,
    DurableReadModel,
    FileCheckpointStore,
    Projection,
    Projector,
    Start,
)
from samples.organization import OrganizationRegistered, OrganizationRenamed
from samples.organization.search import SearchEntry, SearchEntryProjection
from tests.projections.conftest import CountingSource
from tests.projections.support import ORG, checkpointed, model, register, rename


@pytest.fixture(autouse=True)
def _register(event_source: EventSource) -> None:
    event_source.registry.register(OrganizationRegistered, OrganizationRenamed)


async def test_catching_up_after_one_percent_new_events_reads_at_most_five_percent(
    event_source: EventSource, tmp_path: Path
) -> None:
    counting = CountingSource(event_source)
    for i in range(200):
        await register(counting, f"org{i:03d}", renames=9)
    first = model(counting, tmp_path, margin=timedelta(0))
    assert (await first.open()).start is Start.NO_CHECKPOINT
    await first.save()
    full_rebuild = counting.events_read
    assert full_rebuild == 2000

    for i in range(20):
        await rename(counting, f"org{i:03d}", 10, f"renamed {i}")
    counting.events_read = 0
    second = model(counting, tmp_path, margin=timedelta(0))
    opened = await second.open()

    assert opened.start is Start.CHECKPOINT
    assert opened.changed == {f"org{i:03d}" for i in range(20)}
    assert counting.events_read <= 0.05 * full_rebuild
    assert second.records == await Projector(event_source, SearchEntryProjection).restore(SearchEntry, ORG)


async def test_new_streams_and_events_after_the_checkpoint_are_applied_once(
    event_source: EventSource, tmp_path: Path
) -> None:
    await register(event_source, "acme")
    await checkpointed(event_source, tmp_path)
    await rename(event_source, "acme", 1, "Acme Corp")
    await register(event_source, "globex")

    second = model(event_source, tmp_path)
    opened = await second.open()

    assert opened.changed == {"acme", "globex"}
    assert second.records["acme"].former_names == ["acme"]
    assert second.records["globex"].name == "globex"
    assert await second.catch_up() == set()
    assert second.records["acme"].former_names == ["acme"]


class WritesDuring(FileCheckpointStore):
    """Events are committed while the checkpoint is being written."""

    def __init__(self, directory: Path, source: EventSource) -> None:
        super().__init__(directory)
        self.source = source

    async def write(self, name: str, data: bytes) -> None:
        await rename(self.source, "acme", 1, "during the write")
        await register(self.source, "initech")
        await super().write(name, data)


async def test_events_committed_while_the_checkpoint_is_written_are_applied_next_time(
    event_source: EventSource, tmp_path: Path
) -> None:
    await register(event_source, "acme")
    projector = Projector(event_source, SearchEntryProjection)
    first = DurableReadModel(projector, SearchEntry, ORG, WritesDuring(tmp_path, event_source))
    await first.open()
    await first.save()

    second = model(event_source, tmp_path)
    opened = await second.open()

    assert opened.start is Start.CHECKPOINT
    assert second.records["acme"].name == "during the write"
    assert second.records["acme"].former_names == ["acme"]
    assert "initech" in second.records


class Renamed(Projection[SearchEntry]):
    def project_registered(self, record: SearchEntry, event: OrganizationRegistered) -> None:
        record.id = event.metadata.source_id
        record.name = event.name.upper()


async def test_changed_projection_code_means_a_rebuild(event_source: EventSource, tmp_path: Path) -> None:
    await register(event_source, "acme")
    first = await checkpointed(event_source, tmp_path)

    changed = DurableReadModel(Projector(event_source, Renamed), SearchEntry, ORG, FileCheckpointStore(tmp_path))
    opened = await changed.open()

    assert changed.version != first.version
    assert opened.start is Start.VERSION_CHANGED
    assert changed.records["acme"].name == "ACME"
    assert (await model(event_source, tmp_path, salt="2").open()).start is Start.VERSION_CHANGED


@pytest.mark.parametrize(
    "damage",
    [b"", b"{not json", b"[" * 100_000, b'{"format": 1, "version": "%s", "records": {"acme": 3}}'],
    ids=["empty", "not-json", "nested-too-deep", "bad-record"],
)
async def test_a_corrupt_checkpoint_file_means_a_rebuild(
    event_source: EventSource, tmp_path: Path, damage: bytes
) -> None:
    await register(event_source, "acme")
    first = await checkpointed(event_source, tmp_path)
    path = FileCheckpointStore(tmp_path).path(first.name)
    path.write_bytes(damage.replace(b"%s", first.version.encode()))

    second = model(event_source, tmp_path)
    opened = await second.open()

    assert opened.start is Start.CORRUPT_CHECKPOINT
    assert second.records["acme"].name == "acme"


async def test_the_checkpoint_file_is_replaced_atomically(
    event_source: EventSource, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await register(event_source, "acme")
    first = await checkpointed(event_source, tmp_path)
    path = FileCheckpointStore(tmp_path).path(first.name)
    before = path.read_bytes()
    assert json.loads(before)["records"]["acme"]["name"] == "acme"

    await rename(event_source, "acme", 1, "Acme Corp")
    await first.catch_up()

    def crash(*args: object) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr("os.replace", crash)
    with pytest.raises(CheckpointFileError, match=f"cannot write checkpoint {path}: disk gone") as caught:
        await first.save()
    assert isinstance(caught.value.__cause__, OSError)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # noqa: ASYNC240


class Exploding(Projection[SearchEntry]):
    def project_renamed(self, record: SearchEntry, event: OrganizationRenamed) -> None:
        raise RuntimeError("bug in a handler")


async def test_a_catch_up_that_failed_half_way_cannot_be_saved(event_source: EventSource, tmp_path: Path) -> None:
    await register(event_source, "acme", renames=1)
    broken = DurableReadModel(
        Projector(event_source, SearchEntryProjection, Exploding), SearchEntry, ORG, FileCheckpointStore(tmp_path)
    )
    with pytest.raises(RuntimeError, match="bug in a handler"):
        await broken.open()
    with pytest.raises(CheckpointError, match="interrupted"):
        await broken.save()
    with pytest.raises(CheckpointError, match="interrupted"):
        await broken.catch_up()
