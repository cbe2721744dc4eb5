"""Keys that mean something in a URL or a filter read back exactly, on every page, through every reader.

The readers send their queries themselves (see `json_rows`), so each query value must travel
percent-encoded as the SDK sends it: the service decodes a bare `+` as a space and `%41` as `A`.
Stream types and ids here hold every character Table keys allow that a URL or an OData filter gives
a meaning to (`+ % & = ' " ~ é` and spaces; `# ? /` are refused by `keys.py`), and one row a page
makes every read cross page boundaries, whose continuation keys are base64 holding `+`, `/` and `=`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from azure.data.tables.aio import TableClient

from messagehandler.cache import CacheReader, CacheReplicator
from messagehandler.eventsource.azure_tables import AzureTableStorageEventSource
from messagehandler.eventsource.keys import InvalidKeyError
from messagehandler.eventsource.lifecycle import StreamState
from messagehandler.eventsource.snapshots import Snapshot
from tests.eventsource.azure_tables_support import Note, notes, raw_rows

pytestmark = pytest.mark.azurite

MakeSource = Callable[..., AzureTableStorageEventSource]

STREAM_TYPES = ["Events", "Billing+EU", "q%41 & 'r'=~é \""]
STREAM_IDS = [
    "ann+news@example.com",
    "q%41",
    "%2B",
    "+",
    "a b",
    " lead",
    "x&y=z",
    "it's",
    'say "hi"',
    "ab~",
    "a~~",
    "zé",
    "ü~x",
    "!before-dollar",
    "%after-dollar",
    "a$b",
    "ÿÿÿ",
]
"""Ids whose row keys (and so continuation tokens: `ab~_…` is `YWJ+…`) hold what a URL or filter interprets."""


def texts(stream_id: str, count: int) -> list[str]:
    return [f"{stream_id} #{n}" for n in range(1, count + 1)]


def length(index: int) -> int:
    return 1 + index % 3


@pytest.fixture(params=STREAM_TYPES)
def stream_type(request: pytest.FixtureRequest) -> str:
    param: str = request.param
    return param


@pytest.fixture
async def written(make_table_source: MakeSource, stream_type: str) -> AzureTableStorageEventSource:
    """A source reading one row a page, with outbox, holding every id (1 to 3 events each) and a snapshot of each."""
    source = make_table_source(page_size=1, outbox=True)
    source.registry.register(Note)
    for index, stream_id in enumerate(STREAM_IDS):
        snapshot = Snapshot(length(index), "v1", '{"n": 1}')
        events = notes(stream_id, texts(stream_id, length(index)), stream_type=stream_type)
        await source.append(stream_type, stream_id, 0, events, snapshot=snapshot)
    return source


def expected() -> dict[str, list[str]]:
    return {stream_id: texts(stream_id, length(index)) for index, stream_id in enumerate(STREAM_IDS)}


async def test_load_and_the_snapshot_read_give_each_stream_exactly(
    written: AzureTableStorageEventSource, stream_type: str
) -> None:
    for index, stream_id in enumerate(STREAM_IDS):
        loaded = await written.load(stream_type, stream_id)
        assert [e.text for e in loaded if isinstance(e, Note)] == texts(stream_id, length(index)), stream_id
        assert [e.metadata.version for e in loaded] == list(range(1, length(index) + 1))
        snapshot = await written.read_snapshot(stream_type, stream_id)
        assert snapshot is not None, stream_id
        assert snapshot.version == length(index), stream_id
        assert await written.load(stream_type, stream_id, from_version=length(index)) == loaded[-1:]


async def test_bulk_reads_give_every_stream_once_and_whole(
    written: AzureTableStorageEventSource, stream_type: str, tmp_path: Path
) -> None:
    whole = expected()
    since = datetime.now(UTC) - timedelta(hours=1)

    read_type = {
        s.stream_id: [e.text for e in s.events if isinstance(e, Note)] async for s in written.read_type(stream_type)
    }
    changes = {
        s.stream_id: [e.text for e in s.events if isinstance(e, Note)]
        async for s in written.read_changes(stream_type, since)
    }
    ids = [stream_id async for stream_id in written.stream_ids(stream_type)]
    pending = [(e.stream_id, e.from_version, e.to_version) async for e in written.pending(stream_type)]
    summary = await CacheReplicator(written, tmp_path).replicate([stream_type])
    cached = [(e.stream_type, e.stream_id, e.version) for e in CacheReader(tmp_path).events()]

    assert read_type == whole
    assert changes == whole
    assert sorted(ids) == sorted(whole)
    assert pending == sorted((stream_id, 1, len(events)) for stream_id, events in whole.items())
    assert summary.total_events == sum(map(len, whole.values()))
    assert sorted(cached) == sorted(
        (stream_type, stream_id, version)
        for stream_id, events in whole.items()
        for version in range(1, len(events) + 1)
    )


async def test_appends_after_a_load_and_the_read_back_of_a_repeated_append_find_the_stored_rows(
    written: AzureTableStorageEventSource, stream_type: str
) -> None:
    for index, stream_id in enumerate(STREAM_IDS):
        stored = await written.load(stream_type, stream_id)
        # The same events again: the transaction meets its own rows and the read-back finds their ids.
        assert await written.append(stream_type, stream_id, 0, stored) is not None
        more = notes(stream_id, ["next"], start_version=length(index) + 1, stream_type=stream_type)
        await written.append(stream_type, stream_id, length(index), more)
        assert [e.metadata.version for e in await written.load(stream_type, stream_id)] == list(
            range(1, length(index) + 2)
        )


async def test_lifecycle_reads_find_the_stream(written: AzureTableStorageEventSource, stream_type: str) -> None:
    for entry in [e async for e in written.pending(stream_type)]:
        assert await written.clear(entry)
    archived, deleted = STREAM_IDS[0], STREAM_IDS[1]
    others = [stream_id for stream_id in STREAM_IDS if stream_id not in (archived, deleted)]

    assert (await written.archive(stream_type, archived)).state is StreamState.ARCHIVED
    assert (await written.delete(stream_type, deleted)).state is StreamState.DELETED
    record = await written.lifecycle(stream_type, archived)

    assert record is not None
    assert record.stream_id == archived
    assert [s.stream_id async for s in written.read_archived(stream_type)] == [archived]
    assert sorted([s.stream_id async for s in written.read_type(stream_type)]) == sorted(others)
    assert await written.unarchive(stream_type, archived)
    assert await written.lifecycle(stream_type, archived) is None
    assert sorted([s.stream_id async for s in written.read_type(stream_type)]) == sorted([archived, *others])


@pytest.mark.parametrize("stream_id", ["a#b", "a?b", "a/b", "a\\b", "$outbox_x"])
async def test_ids_no_table_key_can_hold_are_refused_before_anything_is_sent(
    make_table_source: MakeSource, raw_table: TableClient, stream_id: str
) -> None:
    source = make_table_source()
    with pytest.raises(InvalidKeyError):
        await source.append("T", stream_id, 0, notes(stream_id, ["x"], stream_type="T"))
    with pytest.raises(InvalidKeyError):
        await source.load("T", stream_id)
    assert await raw_rows(raw_table) == []
