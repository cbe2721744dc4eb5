"""Restores and durable read models over a stream type holding an unreadable row: stop by default, skip by policy."""

from __future__ import annotations

from pathlib import Path

import pytest

from messagehandler import InMemoryEventSource, SerializationError, SkipBadRows, UnreadableEventError
from messagehandler.projections import Projector
from samples.organization.search import SearchEntry, SearchEntryProjection
from tests.projections.support import ORG, model, with_a_broken_stream


@pytest.fixture
async def source() -> InMemoryEventSource:
    return await with_a_broken_stream()


async def test_a_restore_stops_at_an_unreadable_row_naming_it(source: InMemoryEventSource) -> None:
    with pytest.raises(UnreadableEventError) as raised:
        await Projector(source, SearchEntryProjection).restore(SearchEntry, ORG)

    assert (raised.value.row_key, raised.value.version) == ("broken_0000000002", 2)
    assert "in-memory source" in str(raised.value)


async def test_a_restore_with_a_policy_builds_every_other_record_and_reports_the_row(
    source: InMemoryEventSource,
) -> None:
    bad_rows = SkipBadRows()

    records = await Projector(source, SearchEntryProjection).restore(SearchEntry, ORG, bad_rows=bad_rows)

    assert sorted(records) == ["acme", "zeta"]
    assert bad_rows.streams == [f"{ORG}/broken"]


async def test_restoring_one_unreadable_stream_with_a_policy_gives_no_record(source: InMemoryEventSource) -> None:
    projector = Projector(source, SearchEntryProjection)
    bad_rows = SkipBadRows()

    assert await projector.restore(SearchEntry, ORG, "broken", bad_rows=bad_rows) is None
    assert [(e.stream, e.version) for e in bad_rows.skipped] == [(f"{ORG}/broken", None)]
    assert (await projector.restore(SearchEntry, ORG, "acme", bad_rows=bad_rows)) is not None
    with pytest.raises(SerializationError, match="broken"):
        await projector.restore(SearchEntry, ORG, "broken")


async def test_a_durable_read_model_opens_past_a_bad_row_with_a_policy_and_reports_it_once(
    source: InMemoryEventSource, tmp_path: Path
) -> None:
    with pytest.raises(UnreadableEventError):
        await model(source, tmp_path).open()
    bad_rows = SkipBadRows()
    read_model = model(source, tmp_path, bad_rows=bad_rows)

    opened = await read_model.open()

    assert opened.changed == {"acme", "zeta"}
    assert sorted(read_model.records) == ["acme", "zeta"]
    assert "broken" not in read_model.position.versions
    await read_model.save()
    await read_model.catch_up()  # meets the row again
    assert [(e.stream, e.version) for e in bad_rows.skipped] == [(f"{ORG}/broken", 2)]
