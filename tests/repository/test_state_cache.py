"""The `Cached` state cache on every event source: a hit reads only newer events and is never served stale."""

from __future__ import annotations

import logging

import pytest

from messagehandler import (
    AggregateRepository,
    Cached,
    ConcurrencyError,
    EventSource,
    EventTypeRegistry,
    FullReplay,
    InMemoryEventSource,
    SnapshotDefinitionError,
    message_context,
    retry_on_conflict,
)
from messagehandler.eventsource import StreamDeletedError
from messagehandler.eventsource.lifecycle import StreamLifecycle
from messagehandler.eventsource.observed import ObservedSource
from messagehandler.eventsource.tenants import TenantScopedEventSource
from messagehandler.personal import Keyring, LocalKeyEncryptionKey, PersonalDataSerializer
from messagehandler.personal.memory_store import InMemoryKeyStore
from samples.organization import Organization
from tests.repository.backups import restore_older_backup
from tests.repository.counter import Added, Counter, Person, Plain


async def registered(source: EventSource, id: str, renames: int = 3, cache: Cached | None = None) -> None:
    repository = AggregateRepository(source, access={Organization: cache} if cache else None)
    org = Organization(id)
    org.register("Acme")
    for n in range(renames):
        org.rename(f"Acme {n}")
    repository.add(org)
    await repository.flush()


def watched(source: EventSource) -> tuple[ObservedSource, list[list[int]]]:
    loads: list[list[int]] = []
    return ObservedSource(source, on_load=lambda events: loads.append([e.metadata.version for e in events])), loads


async def test_a_hit_reads_only_from_the_cached_version_on(event_source: EventSource) -> None:
    cache = Cached()
    await registered(event_source, "acme", cache=cache)
    source, loads = watched(event_source)

    org = await AggregateRepository(source, access={Organization: cache}).get(Organization, "acme")

    assert loads == [[4]]
    assert (org.version, org.name) == (4, "Acme 2")
    assert org.history == ()


async def test_a_hit_applies_what_other_writers_appended_meanwhile(event_source: EventSource) -> None:
    cache = Cached()
    await registered(event_source, "acme", cache=cache)
    other = AggregateRepository(event_source)  # another process: no shared cache
    (await other.get(Organization, "acme")).rename("Elsewhere")
    await other.flush()
    source, loads = watched(event_source)

    org = await AggregateRepository(source, access={Organization: cache}).get(Organization, "acme")

    assert loads == [[4, 5]]
    assert (org.version, org.name) == (5, "Elsewhere")
    assert [e.metadata.version for e in org.history] == [5]
    again = await AggregateRepository(source, access={Organization: cache}).get(Organization, "acme")
    assert (again.version, loads[-1]) == (5, [5])


async def test_a_stale_entry_meeting_a_conflict_raises_and_the_retry_reloads(event_source: EventSource) -> None:
    cache = Cached()
    access = {Organization: cache}
    await registered(event_source, "acme", cache=cache)
    mine = AggregateRepository(event_source, access=access)
    org = await mine.get(Organization, "acme")
    other = AggregateRepository(event_source)
    (await other.get(Organization, "acme")).rename("Elsewhere")
    await other.flush()
    org.rename("Mine")

    with pytest.raises(ConcurrencyError) as raised:
        await mine.flush()
    assert (raised.value.expected_version, raised.value.actual_version) == (4, 5)

    attempts: list[int] = []

    async def rename(repository: AggregateRepository) -> str | None:
        org = await repository.get(Organization, "acme")
        attempts.append(org.version)
        org.rename("Mine")
        return org.name

    assert await retry_on_conflict(event_source, rename, access=access) == "Mine"
    assert attempts == [5]
    stored = await event_source.load("Organization", "acme")
    assert [(e.metadata.version, e.model_dump()["name"]) for e in stored[-2:]] == [(5, "Elsewhere"), (6, "Mine")]
    cached = await AggregateRepository(event_source, access=access).get(Organization, "acme")
    assert (cached.version, cached.name) == (6, "Mine")


async def test_a_command_never_changes_the_cached_state(event_source: EventSource) -> None:
    cache = Cached()
    await registered(event_source, "acme", cache=cache)
    first = await AggregateRepository(event_source, access={Organization: cache}).get(Organization, "acme")
    first.rename("Never flushed")

    second = await AggregateRepository(event_source, access={Organization: cache}).get(Organization, "acme")

    assert first is not second
    assert (second.name, second.version, second.pending_events) == ("Acme 2", 4, ())


async def test_a_deleted_stream_is_not_served_from_the_cache(event_source: EventSource) -> None:
    cache = Cached()
    await registered(event_source, "acme", cache=cache)
    assert isinstance(event_source, StreamLifecycle)
    await event_source.delete("Organization", "acme")

    with pytest.raises(StreamDeletedError):
        await AggregateRepository(event_source, access={Organization: cache}).get(Organization, "acme")


async def test_the_cache_is_bounded_and_drops_the_least_recently_used(event_source: EventSource) -> None:
    cache = Cached(maxsize=2)
    for id in ("a", "b", "c"):
        await registered(event_source, id, cache=cache)
    assert cache.size == 2
    source, loads = watched(event_source)
    repository = AggregateRepository(source, access={Organization: cache})

    await repository.get(Organization, "a")  # evicted: a full replay
    await repository.get(Organization, "c")

    assert loads == [[1, 2, 3, 4], [4]]


async def test_two_sources_never_share_entries() -> None:
    cache = Cached()
    here, there = InMemoryEventSource(), InMemoryEventSource()
    await registered(here, "acme", renames=3, cache=cache)
    await registered(there, "acme", renames=1, cache=cache)

    assert (await AggregateRepository(here, access={Organization: cache}).get(Organization, "acme")).version == 4
    assert (await AggregateRepository(there, access={Organization: cache}).get(Organization, "acme")).version == 2


async def test_two_tenants_never_share_entries() -> None:
    cache = Cached()
    registry = EventTypeRegistry()
    source = TenantScopedEventSource(lambda tenant, registry: InMemoryEventSource(registry), registry=registry)
    for tenant, renames in (("north", 3), ("south", 1)):
        with message_context(tenant_id=tenant):
            await registered(source, "acme", renames=renames, cache=cache)

    for tenant, version in (("north", 4), ("south", 2)):
        with message_context(tenant_id=tenant):
            loaded = await AggregateRepository(source, access={Organization: cache}).get(Organization, "acme")
            assert loaded.version == version


async def test_a_stream_rewound_behind_the_cache_is_loaded_afresh(event_source: EventSource) -> None:
    cache = Cached()
    await registered(event_source, "acme", renames=3, cache=cache)
    await restore_older_backup(event_source, "Organization", "acme", 2)

    org = await AggregateRepository(event_source, access={Organization: cache}).get(Organization, "acme")

    assert (org.version, org.name) == (2, "Acme 0")


async def test_a_stream_rewritten_to_the_cached_version_with_other_events_is_loaded_afresh(
    event_source: EventSource,
) -> None:
    cache = Cached()
    access = {Organization: cache}
    await registered(event_source, "acme", renames=3, cache=cache)  # cached at version 4, "Acme 2"
    await restore_older_backup(event_source, "Organization", "acme", 2)
    writer = AggregateRepository(event_source)  # another process, written again up to version 4
    org = await writer.get(Organization, "acme")
    org.rename("Restored 1")
    org.rename("Restored 2")
    await writer.flush()
    source, loads = watched(event_source)

    loaded = await AggregateRepository(source, access=access).get(Organization, "acme")
    again = await AggregateRepository(source, access=access).get(Organization, "acme")

    assert (loaded.version, loaded.name, again.name) == (4, "Restored 2", "Restored 2")
    assert loads == [[4], [1, 2, 3, 4], [4]]  # the mismatch replays once; the entry it puts is a hit again


async def test_a_miss_goes_through_the_inner_strategy(event_source: EventSource) -> None:
    cache = Cached()  # inner: the type's default, Snapshots for Counter
    repository = AggregateRepository(event_source, access={Counter: cache})
    counter = Counter("c")
    for n in range(6):
        counter.add(n)
    repository.add(counter)
    await repository.flush()
    plain = Cached(FullReplay())
    source, loads = watched(event_source)

    fresh = await AggregateRepository(source, access={Counter: Cached()}).get(Counter, "c")
    replayed = await AggregateRepository(source, access={Plain: plain}).get(Plain, "c")

    assert loads == [[6], [1, 2, 3, 4, 5, 6]]
    assert (fresh.total, replayed.total) == (15, 15)
    assert repr(plain) == "Cached(FullReplay(), maxsize=10000)"


async def test_aggregates_holding_personal_data_are_not_cached(caplog: pytest.LogCaptureFixture) -> None:
    keys = Keyring(InMemoryKeyStore(), LocalKeyEncryptionKey.generate())
    source = InMemoryEventSource(serializer=PersonalDataSerializer(keys))
    cache = Cached()
    repository = AggregateRepository(source, access={Person: cache})
    person = Person("p-1")
    person.rename("Ann")
    repository.add(person)

    with caplog.at_level(logging.WARNING, logger="messagehandler.repository"):
        await repository.flush()
        loaded = await AggregateRepository(source, access={Person: cache}).get(Person, "p-1")

    assert loaded.name == "Ann"
    assert cache.size == 0
    assert "Person holds personal data, so the state cache does not keep it" in caplog.text


def test_the_size_bound_must_be_positive() -> None:
    with pytest.raises(ValueError, match="maxsize"):
        Cached(maxsize=0)


class Slotted(Counter):
    """Keeps part of its state in `__slots__`, which `vars()` does not see."""

    __slots__ = ("__hidden", "label")

    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.label = "fresh"
        self.__hidden = [0]

    def apply_added(self, event: Added) -> None:
        super().apply_added(event)
        self.label = f"after {event.amount}"
        self.__hidden.append(event.amount)

    @property
    def hidden(self) -> list[int]:
        return self.__hidden


def test_a_detached_copy_keeps_attributes_held_in_slots() -> None:
    original = Slotted("s")
    original.add(4)
    original.commit()

    copy = original.detached()
    copy.hidden.append(99)

    assert (copy.label, copy.hidden) == ("after 4", [0, 4, 99])
    assert original.hidden == [0, 4]
    with pytest.raises(SnapshotDefinitionError, match=r"_Slotted__hidden, label, which CounterState does not name"):
        Slotted.check_snapshot_definition()


class Uncopyable:
    def __deepcopy__(self, memo: object) -> Uncopyable:
        raise TypeError("holds a lock")


async def test_a_state_that_will_not_copy_is_loaded_instead_of_failing_the_get(
    caplog: pytest.LogCaptureFixture,
) -> None:
    source, cache = InMemoryEventSource(), Cached(FullReplay())
    await registered(source, "acme", cache=cache)
    for key, state in list(cache._states.items()):
        state.lock = Uncopyable()  # type: ignore[attr-defined]
        cache._states[key] = state

    org = await AggregateRepository(source, access={Organization: cache}).get(Organization, "acme")

    assert (org.version, org.name) == (4, "Acme 2")
    assert "could not be copied" in caplog.text
