"""The trust helper catches projections whose records depend on when or in what order they were restored."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest
from pydantic import BaseModel

from messagehandler import EventSource
from messagehandler.projections import NonDeterministicProjectionError, Projection, Projector, verify_replay
from messagehandler.projections.testing import verify_replay_of
from messagehandler.testing import recorded
from samples.organization import OrganizationRegistered, OrganizationRenamed
from samples.organization.search import SearchEntry, SearchEntryProjection

ORG = "Organization"


class Seen(BaseModel):
    name: str = ""
    seen_at: datetime | None = None
    rank: int = 0


class ReadsTheClock(Projection[Seen]):
    def project(self, record: Seen, event: OrganizationRegistered) -> None:
        record.name = event.name
        record.seen_at = datetime.now(UTC)


class CountsAcrossStreams(Projection[Seen]):
    def __init__(self) -> None:
        self.counter = itertools.count(1)

    def project(self, record: Seen, event: OrganizationRegistered) -> None:
        record.rank = next(self.counter)


def events() -> list[OrganizationRegistered]:
    return [
        *recorded(ORG, "acme", [OrganizationRegistered(name="Acme")]),
        *recorded(ORG, "globex", [OrganizationRegistered(name="Globex")]),
    ]


def test_a_deterministic_projection_passes() -> None:
    report = verify_replay_of(SearchEntry, events(), SearchEntryProjection)
    assert report.deterministic
    assert report.streams == 2
    report.raise_for_differences()


def test_a_projection_reading_the_clock_is_reported_per_record() -> None:
    report = verify_replay_of(Seen, events(), ReadsTheClock)

    assert {d.stream_id for d in report.differences} == {"acme", "globex"}
    assert report.differences[0].first["name"] == "Acme"
    with pytest.raises(NonDeterministicProjectionError, match="different records for 2 of 2 streams"):
        report.raise_for_differences()


def test_state_shared_across_streams_is_caught_by_the_other_order() -> None:
    report = verify_replay_of(Seen, events(), CountsAcrossStreams)
    assert [(d.stream_id, d.first["rank"], d.second["rank"]) for d in report.differences] == [
        ("acme", 1, 4),
        ("globex", 2, 3),
    ]


async def test_verify_replay_reads_the_store(event_source: EventSource) -> None:
    event_source.registry.register(OrganizationRegistered, OrganizationRenamed)
    for event in events():
        await event_source.append(ORG, event.metadata.source_id, 0, [event])

    good = await verify_replay(Projector(event_source, SearchEntryProjection), SearchEntry, ORG)
    bad = await verify_replay(Projector(event_source, ReadsTheClock), Seen, ORG)

    assert (good.deterministic, good.streams) == (True, 2)
    assert len(bad.differences) == 2
