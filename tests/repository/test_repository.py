"""Repository behaviour, run against every event source through the `event_source` fixture."""

from __future__ import annotations

import pytest

from messagehandler import (
    AggregateRepository,
    ConcurrencyError,
    EventSource,
    IdentityConflictError,
    InMemoryEventSource,
    retry_on_conflict,
)
from messagehandler.testing import recorded
from samples.organization import Organization, OrganizationRegistered, OrganizationRenamed


async def register(source: EventSource, org_id: str, name: str = "Acme") -> None:
    repository = AggregateRepository(source)
    org = Organization(org_id)
    org.register(name)
    repository.add(org)
    await repository.flush()


def test_the_default_event_source_is_in_memory() -> None:
    assert isinstance(AggregateRepository().source, InMemoryEventSource)


async def test_get_of_a_missing_stream_gives_a_new_empty_aggregate(event_source: EventSource) -> None:
    org = await AggregateRepository(event_source).get(Organization, "nobody")

    assert (org.id, org.version, org.name, org.registered) == ("nobody", 0, None, False)


async def test_flush_stores_pending_events_and_returns_them(event_source: EventSource) -> None:
    repository = AggregateRepository(event_source)
    org = Organization("acme")
    org.register("Acme")
    org.rename("Acme Corp")
    repository.add(org)

    committed = await repository.flush()

    assert committed == [OrganizationRegistered(name="Acme"), OrganizationRenamed(name="Acme Corp")]
    assert org.pending_events == ()
    assert org.committed_version == 2
    assert await repository.flush() == []
    loaded = await AggregateRepository(event_source).get(Organization, "acme")
    assert (loaded.name, loaded.version) == ("Acme Corp", 2)


async def test_get_registers_the_aggregates_event_types(event_source: EventSource) -> None:
    await event_source.append(
        "Organization", "acme", 0, recorded("Organization", "acme", [OrganizationRegistered(name="A")])
    )
    assert "OrganizationRegistered" not in set(event_source.registry), "nothing registered explicitly yet"

    org = await AggregateRepository(event_source).get(Organization, "acme")

    assert org.registered
    assert {"OrganizationRegistered", "OrganizationRenamed"} <= set(event_source.registry)


async def test_the_identity_map_returns_the_same_object(event_source: EventSource) -> None:
    await register(event_source, "acme")
    repository = AggregateRepository(event_source)

    first = await repository.get(Organization, "acme")
    first.rename("Changed")
    second = await repository.get(Organization, "acme")

    assert second is first
    assert second.name == "Changed"


async def test_add_refuses_a_second_object_for_the_same_stream(event_source: EventSource) -> None:
    repository = AggregateRepository(event_source)
    repository.add(Organization("acme"))
    repository.add(repository._identity[("Organization", "acme")])

    with pytest.raises(IdentityConflictError, match="Organization/acme"):
        repository.add(Organization("acme"))


async def test_a_stale_write_raises_a_concurrency_error_naming_stream_and_versions(event_source: EventSource) -> None:
    await register(event_source, "acme")
    mine, theirs = AggregateRepository(event_source), AggregateRepository(event_source)
    (await mine.get(Organization, "acme")).rename("Mine")
    (await theirs.get(Organization, "acme")).rename("Theirs")
    await theirs.flush()

    with pytest.raises(ConcurrencyError) as raised:
        await mine.flush()

    assert (raised.value.stream_type, raised.value.stream_id) == ("Organization", "acme")
    assert (raised.value.expected_version, raised.value.actual_version) == (1, 2)
    stored = await AggregateRepository(event_source).get(Organization, "acme")
    assert stored.name == "Theirs"


async def test_registering_an_existing_stream_as_new_conflicts(event_source: EventSource) -> None:
    await register(event_source, "acme")

    with pytest.raises(ConcurrencyError) as raised:
        await register(event_source, "acme", "Impostor")

    assert raised.value.expected_version == 0
    assert raised.value.actual_version == 1


async def test_a_flush_over_several_aggregates_stores_each(event_source: EventSource) -> None:
    repository = AggregateRepository(event_source)
    for n in range(5):
        org = Organization(f"org-{n}")
        org.register(f"Org {n}")
        repository.add(org)

    committed = await repository.flush()

    assert sorted(e.metadata.source_id for e in committed) == [f"org-{n}" for n in range(5)]
    assert sorted([i async for i in event_source.stream_ids("Organization")]) == [f"org-{n}" for n in range(5)]


async def test_a_partly_failed_flush_commits_what_was_stored_and_says_so(event_source: EventSource) -> None:
    await register(event_source, "taken")
    repository = AggregateRepository(event_source)
    fresh, clash = Organization("fresh"), Organization("taken")
    fresh.register("Fresh")
    clash.register("Clash")
    repository.add(fresh)
    repository.add(clash)

    with pytest.raises(ConcurrencyError) as raised:
        await repository.flush()

    assert fresh.pending_events == ()
    assert len(clash.pending_events) == 1
    assert [e.metadata.source_id for e in repository.last_flush_committed] == ["fresh"]
    assert any("Organization/fresh" in note for note in raised.value.__notes__)


async def test_retry_on_conflict_reloads_and_reruns_the_command(event_source: EventSource) -> None:
    await register(event_source, "acme")
    attempts: list[int] = []

    async def rename(repository: AggregateRepository) -> str:
        org = await repository.get(Organization, "acme")
        attempts.append(org.version)
        if len(attempts) == 1:
            await interfere(event_source)
        org.rename(f"{org.name}+mine")
        return org.name or ""

    result = await retry_on_conflict(event_source, rename, backoff=0)

    assert attempts == [1, 2]
    assert result == "Acme+theirs+mine"
    stored = await AggregateRepository(event_source).get(Organization, "acme")
    assert (stored.name, stored.version) == ("Acme+theirs+mine", 3)


async def interfere(source: EventSource) -> None:
    other = AggregateRepository(source)
    org = await other.get(Organization, "acme")
    org.rename(f"{org.name}+theirs")
    await other.flush()


async def test_retry_on_conflict_is_bounded(event_source: EventSource) -> None:
    await register(event_source, "acme")
    attempts = 0

    async def always_loses(repository: AggregateRepository) -> None:
        nonlocal attempts
        attempts += 1
        org = await repository.get(Organization, "acme")
        await interfere(event_source)
        org.rename(f"attempt {attempts}")

    with pytest.raises(ConcurrencyError):
        await retry_on_conflict(event_source, always_loses, attempts=3, backoff=0)
    assert attempts == 3


async def test_retry_on_conflict_does_not_rerun_a_partly_stored_flush(event_source: EventSource) -> None:
    await register(event_source, "taken")
    attempts = 0

    async def two_aggregates(repository: AggregateRepository) -> None:
        nonlocal attempts
        attempts += 1
        fresh = Organization(f"fresh-{attempts}")
        fresh.register("Fresh")
        repository.add(fresh)
        clash = Organization("taken")
        clash.register("Clash")
        repository.add(clash)

    with pytest.raises(ConcurrencyError):
        await retry_on_conflict(event_source, two_aggregates, attempts=3, backoff=0)
    assert attempts == 1


async def test_retry_on_conflict_needs_at_least_one_attempt(event_source: EventSource) -> None:
    async def noop(repository: AggregateRepository) -> None:
        return None

    with pytest.raises(ValueError, match="attempts"):
        await retry_on_conflict(event_source, noop, attempts=0)


async def test_a_repository_dropped_with_unflushed_events_logs_the_aggregates(caplog: pytest.LogCaptureFixture) -> None:
    import gc
    import logging

    repository = AggregateRepository(InMemoryEventSource())
    acme = await repository.get(Organization, "acme")
    acme.register("Acme", "BE")
    acme.rename("Acme NV")
    flushed = await repository.get(Organization, "globex")
    flushed.register("Globex")
    await repository.flush()
    acme.rename("Acme SA")
    del acme, flushed

    with caplog.at_level(logging.ERROR, logger="messagehandler.repository"):
        del repository
        gc.collect()

    (record,) = caplog.records
    assert "Organization/acme (1 events)" in record.getMessage()
    assert "globex" not in record.getMessage()
    assert "repository.flush()" in record.getMessage()


async def test_a_flushed_repository_is_dropped_silently(caplog: pytest.LogCaptureFixture) -> None:
    import gc

    repository = AggregateRepository(InMemoryEventSource())
    (await repository.get(Organization, "acme")).register("Acme")
    await repository.flush()

    del repository
    gc.collect()

    assert [r for r in caplog.records if r.name == "messagehandler.repository"] == []


async def test_a_flush_that_failed_was_reported_to_its_caller_and_is_not_logged_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import gc
    import logging

    from messagehandler import ConcurrencyError, retry_on_conflict

    source = InMemoryEventSource()
    setup = AggregateRepository(source)
    (await setup.get(Organization, "acme")).register("Acme")
    await setup.flush()
    stale = AggregateRepository(source)
    (await stale.get(Organization, "acme")).rename("stale")
    fresh = AggregateRepository(source)
    (await fresh.get(Organization, "acme")).rename("fresh")
    await fresh.flush()
    with pytest.raises(ConcurrencyError):
        await stale.flush()

    async def rename(repository: AggregateRepository) -> None:
        (await repository.get(Organization, "acme")).rename("retried")

    with caplog.at_level(logging.ERROR, logger="messagehandler.repository"):
        await retry_on_conflict(source, rename)
        del stale, setup, fresh
        gc.collect()

    assert [r for r in caplog.records if r.name == "messagehandler.repository"] == []
