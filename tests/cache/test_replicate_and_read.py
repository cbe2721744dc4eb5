"""Replicating stream types into a cache and reading them back, on every event source."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from messagehandler import EventSource, EventTypeRegistry, SerializationError
from messagehandler.cache import CacheReader
from samples.organization import OrganizationRegistered, OrganizationRenamed
from tests.cache.support import ORG, cached, files, fill, register, replicator


@pytest.fixture(autouse=True)
def _register(event_source: EventSource) -> None:
    register(event_source)


async def test_every_event_is_cached_once_with_consecutive_sequence_numbers(
    event_source: EventSource, tmp_path: Path
) -> None:
    await fill(event_source, {"a": 5, "b": 1, "c": 3})

    summary = await replicator(event_source, tmp_path).replicate([ORG])

    rows = cached(tmp_path)
    assert [seq for seq, _, _ in rows] == list(range(1, 10))
    assert sorted((s, v) for _, s, v in rows) == sorted(
        [("a", v) for v in range(1, 6)] + [("b", 1)] + [("c", v) for v in range(1, 4)]
    )
    assert summary.events == {ORG: 9}
    assert summary.streams == {ORG: 3}
    assert (summary.first_seq, summary.last_seq) == (1, 9)


async def test_cached_events_keep_the_stored_metadata_and_body(event_source: EventSource, tmp_path: Path) -> None:
    await fill(event_source, {"acme": 2})
    stored = await event_source.load(ORG, "acme")

    await replicator(event_source, tmp_path).replicate([ORG])
    raws = list(CacheReader(tmp_path).events())

    assert [raw.metadata for raw in raws] == [event.metadata for event in stored]
    assert [raw.stored_at for raw in raws] == [event.metadata.stored_at for event in stored]
    assert [raw.content(event_source.registry) for raw in raws] == stored
    assert raws[1].content(OrganizationRenamed) == stored[1]
    assert raws[1].content(OrganizationRenamed).metadata.version == 2


async def test_a_second_run_adds_only_new_events_and_new_streams(event_source: EventSource, tmp_path: Path) -> None:
    await fill(event_source, {"a": 2, "b": 1})
    await replicator(event_source, tmp_path).replicate([ORG])
    await fill(event_source, {"a": 2, "new": 1})

    summary = await replicator(event_source, tmp_path).replicate([ORG])

    assert summary.events == {ORG: 3}
    assert cached(tmp_path, start=3) == [(4, "a", 3), (5, "a", 4), (6, "new", 1)]
    assert (await replicator(event_source, tmp_path).replicate([ORG])).events == {ORG: 0}
    assert len(cached(tmp_path)) == 6


async def test_a_run_with_nothing_new_writes_no_segment(event_source: EventSource, tmp_path: Path) -> None:
    await fill(event_source, {"a": 1})
    await replicator(event_source, tmp_path).replicate([ORG])
    segments = files(tmp_path, "segment-*")

    summary = await replicator(event_source, tmp_path).replicate([ORG])

    assert summary.segments_written == 0
    assert files(tmp_path, "segment-*") == segments


async def test_several_types_share_one_sequence(event_source: EventSource, tmp_path: Path) -> None:
    await fill(event_source, {"a": 2})
    await fill(event_source, {"x": 3}, stream_type="Person")

    await replicator(event_source, tmp_path).replicate([ORG, "Person"])

    reader = CacheReader(tmp_path)
    assert [(e.seq, e.stream_type) for e in reader.events()] == [
        (1, ORG), (2, ORG), (3, "Person"), (4, "Person"), (5, "Person")
    ]  # fmt: skip
    assert reader.stream_types == [ORG, "Person"]
    assert reader.manifest.counts == {ORG: 2, "Person": 3}


@pytest.mark.parametrize("start", [0, 3, 4, 5, 9, 10, 50])
async def test_events_start_after_the_given_sequence_number(
    event_source: EventSource, tmp_path: Path, start: int
) -> None:
    """Pages of 2 events, a segment per stream: starts fall on and between page and segment boundaries."""
    await fill(event_source, {"a": 3, "b": 3, "c": 4})
    await replicator(event_source, tmp_path, page_events=2, segment_bytes=1).replicate([ORG])

    assert [seq for seq, _, _ in cached(tmp_path, start)] == list(range(start + 1, 11))


async def test_events_are_read_lazily(event_source: EventSource, tmp_path: Path) -> None:
    await fill(event_source, {"a": 2, "b": 2})
    await replicator(event_source, tmp_path, page_events=2, segment_bytes=1).replicate([ORG])
    events = CacheReader(tmp_path).events()
    first = next(events)
    (tmp_path / "segment-00000002.mhc").unlink()

    assert first.seq == 1
    assert next(events).seq == 2


class NameOnly(BaseModel):
    name: str


async def test_content_validates_into_any_pydantic_model(event_source: EventSource, tmp_path: Path) -> None:
    await fill(event_source, {"acme": 2})
    await replicator(event_source, tmp_path).replicate([ORG])

    names = [raw.content(NameOnly) for raw in CacheReader(tmp_path).events()]

    assert names == [NameOnly(name="acme 1"), NameOnly(name="acme 2")]


async def test_content_refuses_an_event_class_of_another_type(event_source: EventSource, tmp_path: Path) -> None:
    await fill(event_source, {"acme": 1})
    await replicator(event_source, tmp_path).replicate([ORG])
    (raw,) = CacheReader(tmp_path).events()

    with pytest.raises(SerializationError, match="OrganizationRegistered"):
        raw.content(OrganizationRenamed)
    assert raw.content(OrganizationRegistered).name == "acme 1"


async def test_content_upcasts_old_schema_versions_through_a_registry(
    event_source: EventSource, tmp_path: Path
) -> None:
    await fill(event_source, {"acme": 1})
    await replicator(event_source, tmp_path).replicate([ORG])
    (raw,) = CacheReader(tmp_path).events()

    class Registered2(OrganizationRegistered.__base__, type_name="OrganizationRegistered", schema_version=2):  # type: ignore[misc,name-defined]
        title: str

    newer = EventTypeRegistry([Registered2])
    newer.add_upcaster("OrganizationRegistered", 1, lambda data: {"title": data["name"].upper()})

    event = raw.content(newer)

    assert event == Registered2(title="ACME 1")
    assert event.metadata.schema_version == 2
