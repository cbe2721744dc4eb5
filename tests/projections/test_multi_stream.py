"""A read model over two stream types: organizations and their members in one entry, kept by checkpoint."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from messagehandler import Event, EventSource
from messagehandler.projections import FileCheckpointStore, Projection, Projector, Start
from messagehandler.projections.live import LiveReadModel, read_alias
from messagehandler.projections.multi import MultiStreamReadModel, by_stream
from messagehandler.search.providers import SqliteIndexes
from messagehandler.testing import recorded
from samples.organization.domain import OrganizationRegistered


class MemberJoined(Event, type_name="test.MemberJoined"):
    organization_id: str
    name: str


class MemberLeft(Event, type_name="test.MemberLeft"):
    organization_id: str


class OrganizationEntry(BaseModel):
    name: str = ""
    members: list[str] = Field(default_factory=list)


class OrganizationEntryProjection(Projection[OrganizationEntry]):
    def project_registered(self, record: OrganizationEntry, event: OrganizationRegistered) -> None:
        record.name = event.name

    def project_joined(self, record: OrganizationEntry, event: MemberJoined) -> None:
        record.members.append(event.name)

    def project_left(self, record: OrganizationEntry, event: MemberLeft) -> None:
        record.members.remove(next(m for m in record.members if m.lower() == event.metadata.source_id))


KEYS = {"Organization": by_stream, "Member": lambda event: event.organization_id}  # type: ignore[attr-defined]


async def append(source: EventSource, stream_type: str, stream_id: str, version: int, event: Event) -> None:
    await source.append(
        stream_type, stream_id, version - 1, recorded(stream_type, stream_id, [event], start_version=version)
    )


def model(source: EventSource, folder: Path) -> MultiStreamReadModel[OrganizationEntry]:
    return MultiStreamReadModel(
        Projector(source, OrganizationEntryProjection), OrganizationEntry, KEYS, FileCheckpointStore(folder)
    )


async def test_members_land_in_their_organizations_entry_whichever_stream_is_read_first(
    event_source: EventSource, tmp_path: Path
) -> None:
    await append(event_source, "Member", "ann", 1, MemberJoined(organization_id="acme", name="Ann"))
    await append(event_source, "Organization", "acme", 1, OrganizationRegistered(name="Acme"))
    await append(event_source, "Member", "bob", 1, MemberJoined(organization_id="acme", name="Bob"))
    await append(event_source, "Organization", "globex", 1, OrganizationRegistered(name="Globex"))
    first = model(event_source, tmp_path)

    opened = await first.open()
    await first.save()

    assert opened.start is Start.NO_CHECKPOINT
    assert opened.changed == {"acme", "globex"}
    assert first.records["acme"] == OrganizationEntry(name="Acme", members=["Ann", "Bob"])
    assert first.records["globex"] == OrganizationEntry(name="Globex")
    assert first.name == "Member-Organization.OrganizationEntry"

    await append(event_source, "Member", "ann", 2, MemberLeft(organization_id="acme"))
    again = model(event_source, tmp_path)
    reopened = await again.open()

    assert reopened.start is Start.CHECKPOINT
    assert reopened.changed == {"acme"}, "only the record the new event belongs to changed"
    assert again.records["acme"].members == ["Bob"]
    assert set(again.position.versions) == {"Organization/acme", "Organization/globex", "Member/ann", "Member/bob"}


async def test_a_corrupt_or_stale_checkpoint_means_a_rebuild(event_source: EventSource, tmp_path: Path) -> None:
    await append(event_source, "Organization", "acme", 1, OrganizationRegistered(name="Acme"))
    first = model(event_source, tmp_path)
    await first.open()
    await first.save()

    await FileCheckpointStore(tmp_path).write(first.name, b"[" * 50_000)
    assert (await model(event_source, tmp_path).open()).start is Start.CORRUPT_CHECKPOINT
    await first.save()
    salted = MultiStreamReadModel(
        Projector(event_source, OrganizationEntryProjection), OrganizationEntry, KEYS, FileCheckpointStore(tmp_path),
        salt="index v2",
    )  # fmt: skip
    assert (await salted.open()).start is Start.VERSION_CHANGED
    assert salted.records["acme"].name == "Acme"


async def test_a_live_read_model_publishes_the_combined_entries(event_source: EventSource, tmp_path: Path) -> None:
    await append(event_source, "Organization", "acme", 1, OrganizationRegistered(name="Acme"))
    await append(event_source, "Member", "ann", 1, MemberJoined(organization_id="acme", name="Ann"))
    live = LiveReadModel("organizations", model(event_source, tmp_path), SqliteIndexes(OrganizationEntry, tmp_path))

    await live.open()
    await live.save()
    await live.switch()

    assert (await read_alias(FileCheckpointStore(tmp_path), "organizations")).live == live.version
    assert live.index is not None
    assert [hit.record.members for hit in await live.index.search("ann")] == [["Ann"]]
    await live.close()


async def test_an_interrupted_catch_up_must_be_reopened_before_saving(
    event_source: EventSource, tmp_path: Path
) -> None:
    import pytest

    from messagehandler.projections import CheckpointError

    await append(event_source, "Organization", "acme", 1, OrganizationRegistered(name="Acme"))
    broken = MultiStreamReadModel(
        Projector(event_source, OrganizationEntryProjection),
        OrganizationEntry,
        {"Organization": lambda event: event.nowhere},  # type: ignore[attr-defined]
        FileCheckpointStore(tmp_path),
    )

    with pytest.raises(AttributeError):
        await broken.open()
    with pytest.raises(CheckpointError, match="open\\(\\) it again"):
        await broken.save()
    with pytest.raises(CheckpointError, match="open\\(\\) it again"):
        await broken.catch_up()
    with pytest.raises(CheckpointError, match="at least one stream type"):
        MultiStreamReadModel(
            Projector(event_source, OrganizationEntryProjection), OrganizationEntry, {}, FileCheckpointStore(tmp_path)
        )


async def test_a_live_read_model_publishes_nothing_when_its_check_refuses(
    event_source: EventSource, tmp_path: Path
) -> None:
    import pytest

    from messagehandler.worker import LeaseLostError

    await append(event_source, "Organization", "acme", 1, OrganizationRegistered(name="Acme"))
    live = LiveReadModel("organizations", model(event_source, tmp_path), SqliteIndexes(OrganizationEntry, tmp_path))
    await live.open()
    await append(event_source, "Organization", "globex", 1, OrganizationRegistered(name="Globex"))

    def lost() -> None:
        raise LeaseLostError("readmodel-organizations", "it could not be renewed in time")

    with pytest.raises(LeaseLostError):
        await live.step(check=lost)

    assert live.index is not None
    assert [hit.record.name for hit in await live.index.search("*")] == ["Acme"]
    await live.close()


async def test_a_bad_row_skips_its_stream_by_policy_and_is_reported(tmp_path: Path) -> None:
    import pytest

    from messagehandler import EventTypeRegistry, InMemoryEventSource, SkipBadRows, UnreadableEventError
    from messagehandler.testing.bad_rows import Counted

    source = InMemoryEventSource(EventTypeRegistry([OrganizationRegistered, MemberJoined, Counted]))
    for stream_id in ("acme", "broken", "zeta"):
        await append(source, "Organization", stream_id, 1, OrganizationRegistered(name=stream_id))
    await append(source, "Organization", "broken", 2, Counted.model_construct(count=-1))  # stored, never read back
    await append(source, "Member", "ann", 1, MemberJoined(organization_id="acme", name="Ann"))
    with pytest.raises(UnreadableEventError):
        await model(source, tmp_path).open()
    bad_rows = SkipBadRows()
    read_model = MultiStreamReadModel(
        Projector(source, OrganizationEntryProjection), OrganizationEntry, KEYS, FileCheckpointStore(tmp_path),
        bad_rows=bad_rows,
    )  # fmt: skip

    opened = await read_model.open()

    assert opened.changed == {"acme", "zeta"}
    assert read_model.records == {
        "acme": OrganizationEntry(name="acme", members=["Ann"]),
        "zeta": OrganizationEntry(name="zeta"),
    }
    assert "Organization/broken" not in read_model.position.versions
    assert [(e.stream, e.version) for e in bad_rows.skipped] == [("Organization/broken", 2)]
