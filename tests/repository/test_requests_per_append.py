"""One request per append to a stream the unit of work loaded: one entity group transaction, nothing else.

Requests are counted with the SDK's own request hook (`RequestLog`), never timed. Every append path is
counted: plain, with the outbox, with a snapshot due, with personal data encrypted; then the paths
that keep the existence check (a direct `EventSource.append`, an aggregate the repository did not
load), and what skipping the check must survive: a competing writer, an archive, a delete.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from azure.data.tables.aio import TableClient

from messagehandler import AggregateRepository, Cached, ConcurrencyError
from messagehandler.eventsource import StreamArchivedError, StreamDeletedError
from messagehandler.eventsource.azure_tables import AzureTableStorageEventSource
from messagehandler.personal import Keyring, LocalKeyEncryptionKey, PersonalDataSerializer
from messagehandler.personal.memory_store import InMemoryKeyStore
from messagehandler.testing import RequestLog
from samples.organization import Organization
from tests.repository.counter import COUNTER, Counter, Person

pytestmark = pytest.mark.azurite

MakeSource = Callable[..., AzureTableStorageEventSource]
ORG = "Organization"


async def seeded(source: AzureTableStorageEventSource, stream_id: str, events: int = 10) -> None:
    repository = AggregateRepository(source)
    org = Organization(stream_id)
    org.register("Acme")
    for n in range(events - 1):
        org.rename(f"Acme {n}")
    repository.add(org)
    await repository.flush()


async def test_an_append_to_a_loaded_stream_is_one_transaction(make_table_source: MakeSource) -> None:
    log = RequestLog()
    source = make_table_source(raw_request_hook=log)
    await seeded(source, "acme")
    repository = AggregateRepository(source)
    org = await repository.get(Organization, "acme")
    log.clear()

    org.rename("Acme NV")
    await repository.flush()
    org.rename("Acme BV")
    await repository.flush()

    assert log.kinds() == ["transaction", "transaction"]
    assert [e.metadata.version for e in await source.load(ORG, "acme")][-2:] == [11, 12]


async def test_with_the_outbox_the_entry_rides_in_the_same_transaction(make_table_source: MakeSource) -> None:
    log = RequestLog()
    source = make_table_source(raw_request_hook=log, outbox=True)
    await seeded(source, "acme")
    [entry] = [entry async for entry in source.pending(ORG)]
    await source.clear(entry)
    repository = AggregateRepository(source)
    org = await repository.get(Organization, "acme")
    log.clear()

    org.rename("Acme NV")
    await repository.flush()

    assert log.kinds() == ["transaction"]
    assert [(e.from_version, e.to_version) async for e in source.pending(ORG)] == [(11, 11)]


async def test_a_snapshot_due_rides_in_the_same_transaction(make_table_source: MakeSource) -> None:
    log = RequestLog()
    source = make_table_source(raw_request_hook=log)
    await counted(source, 9)
    repository = AggregateRepository(source)
    loaded = await repository.get(Counter, "c")
    log.clear()

    loaded.add(100)
    await repository.flush()

    assert log.kinds() == ["transaction"]
    snapshot = await source.read_snapshot(COUNTER, "c")
    assert snapshot is not None
    assert snapshot.version == 10


async def test_with_personal_data_encrypted_the_append_is_one_transaction(make_table_source: MakeSource) -> None:
    log = RequestLog()
    keys = Keyring(InMemoryKeyStore(), LocalKeyEncryptionKey.generate())
    source = make_table_source(raw_request_hook=log, serializer=PersonalDataSerializer(keys))
    writer = AggregateRepository(source)
    person = Person("p-1")
    for n in range(10):
        person.rename(f"Ann {n}")
    writer.add(person)
    await writer.flush()
    repository = AggregateRepository(source)
    loaded = await repository.get(Person, "p-1")
    log.clear()

    loaded.rename("Ann Smith")
    await repository.flush()

    assert log.kinds() == ["transaction"]
    assert (await AggregateRepository(source).get(Person, "p-1")).name == "Ann Smith"


async def test_a_direct_append_with_a_callers_version_keeps_the_existence_check(make_table_source: MakeSource) -> None:
    log = RequestLog()
    source = make_table_source(raw_request_hook=log)
    await seeded(source, "acme", events=3)
    org = await AggregateRepository(source).get(Organization, "acme")
    org.rename("Acme NV")
    log.clear()

    with pytest.raises(ConcurrencyError) as raised:
        await source.append(ORG, "acme", 5, [_restamped(org.pending_events[0], 6)])
    assert raised.value.actual_version == 3
    assert log.kinds()[0] == "point read"
    log.clear()

    await source.append(ORG, "acme", 3, org.pending_events)

    assert log.kinds() == ["point read", "transaction"]


async def test_an_aggregate_the_repository_did_not_load_keeps_the_existence_check(
    make_table_source: MakeSource,
) -> None:
    log = RequestLog()
    source = make_table_source(raw_request_hook=log)
    await seeded(source, "acme", events=3)
    org = await AggregateRepository(source).get(Organization, "acme")
    org.rename("Acme NV")
    other = AggregateRepository(source)
    other.add(org)
    log.clear()

    await other.flush()

    assert log.kinds() == ["point read", "transaction"]


async def test_a_competing_writer_is_still_a_conflict(make_table_source: MakeSource) -> None:
    source = make_table_source()
    await seeded(source, "acme")
    first, second = AggregateRepository(source), AggregateRepository(source)
    (await first.get(Organization, "acme")).rename("First")
    (await second.get(Organization, "acme")).rename("Second")
    await first.flush()

    with pytest.raises(ConcurrencyError) as raised:
        await second.flush()

    assert (raised.value.expected_version, raised.value.actual_version) == (10, 11)
    stored = await source.load(ORG, "acme")
    assert [e.metadata.version for e in stored][-1] == 11
    assert stored[-1].model_dump() == {"name": "First"}


@pytest.mark.parametrize("action", ["archive", "delete"])
async def test_a_stream_archived_or_deleted_after_the_load_refuses_the_append(
    make_table_source: MakeSource, action: str
) -> None:
    source = make_table_source()
    await seeded(source, "acme")
    repository = AggregateRepository(source)
    org = await repository.get(Organization, "acme")
    org.rename("Too late")
    await getattr(source, action)(ORG, "acme")

    with pytest.raises(StreamArchivedError if action == "archive" else StreamDeletedError):
        await repository.flush()

    if action == "archive":
        assert [e.metadata.version for e in await source.load(ORG, "acme")] == list(range(1, 11))
    else:
        with pytest.raises(StreamDeletedError):
            await source.load(ORG, "acme")


async def counted(source: AzureTableStorageEventSource, events: int) -> None:
    """A `Counter` "c" of `events` events (adding 0, 1, 2, ...), stored in one flush."""
    writer = AggregateRepository(source)
    counter = Counter("c")
    for n in range(events):
        counter.add(n)
    writer.add(counter)
    await writer.flush()


def _restamped(event: Any, version: int) -> Any:
    from messagehandler.testing import recorded

    return recorded(ORG, "acme", [type(event).model_validate(event.model_dump())], start_version=version)[0]


async def test_a_snapshot_load_is_two_requests_and_a_cached_load_one(make_table_source: MakeSource) -> None:
    log = RequestLog()
    source = make_table_source(raw_request_hook=log)
    await counted(source, 23)
    cache = Cached()
    log.clear()

    loaded = await AggregateRepository(source).get(Counter, "c")
    assert log.kinds() == ["point read", "query"]
    await AggregateRepository(source, access={Counter: cache}).get(Counter, "c")
    log.clear()
    hit = await AggregateRepository(source, access={Counter: cache}).get(Counter, "c")

    assert log.kinds() == ["query"]
    assert (loaded.total, hit.total, hit.version) == (sum(range(23)), sum(range(23)), 23)


async def test_a_snapshot_beyond_what_the_stream_holds_is_replayed_over(
    make_table_source: MakeSource, raw_table: TableClient, caplog: pytest.LogCaptureFixture
) -> None:
    source = make_table_source()
    await counted(source, 7)
    for version in (6, 7):  # the stream restored from an older backup; its snapshot (version 7) was not
        await raw_table.delete_entity(COUNTER, f"c_{version:010d}")

    loaded = await AggregateRepository(source).get(Counter, "c")

    assert (loaded.version, loaded.total) == (5, sum(range(5)))
    assert "snapshot of Counter/c is at version 7, which the stream no longer holds" in caplog.text
