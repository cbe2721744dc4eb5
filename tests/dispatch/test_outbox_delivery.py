"""Delivery through the outbox: never before the commit, nothing lost, per-stream order kept.

Transactional delivery runs on a real Storage Queue (Azurite); crashes are real processes killed
with SIGKILL in the middle of a flush.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from azure.storage.queue.aio import QueueClient

from messagehandler import AggregateRepository, EventSource, InMemoryEventSource
from messagehandler.channels import CloudEvent
from messagehandler.channels.dispatcher import Dispatcher
from messagehandler.channels.relay import OutboxRelay
from messagehandler.channels.transactional.storage_queue import StorageQueueChannel
from messagehandler.channels.volatile import InProcessChannel
from messagehandler.errors import ConfigurationError
from messagehandler.eventsource.outbox import Outbox
from messagehandler.testing.azurite import AzuriteProcess
from samples.organization import Organization, OrganizationRenamed

STRANDED = timedelta(0)
"""The relay's `min_age` here: these tests strand outbox rows themselves and relay them at once."""

REPO_ROOT = Path(__file__).resolve().parents[2]


async def register(repository: AggregateRepository, org_id: str, *renames: str) -> None:
    org = Organization(org_id)
    org.register(org_id.title())
    for name in renames:
        org.rename(name)
    repository.add(org)
    await repository.flush()


async def rename(repository: AggregateRepository, org_id: str, name: str) -> None:
    org = await repository.get(Organization, org_id)
    org.rename(name)
    await repository.flush()


def captured(channel: InProcessChannel) -> list[CloudEvent]:
    seen: list[CloudEvent] = []

    async def record(envelope: CloudEvent) -> None:
        seen.append(envelope)

    channel.subscribe(record)
    return seen


async def pending(source: EventSource, stream_type: str = "Organization") -> list[tuple[str, int, int]]:
    assert isinstance(source, Outbox)
    return [(e.stream_id, e.from_version, e.to_version) async for e in source.pending(stream_type)]


async def test_a_flush_publishes_what_it_committed_and_clears_the_outbox(outbox_source: EventSource) -> None:
    channel = InProcessChannel("live")
    seen = captured(channel)
    repository = AggregateRepository(
        outbox_source, dispatcher=Dispatcher().add_channel(channel).route("Organization").to("live")
    )

    await register(repository, "acme", "Acme Corp")

    stored = await outbox_source.load("Organization", "acme")
    assert [e.id for e in seen] == [e.metadata.event_id for e in stored]
    assert [(e.type, e.stream_version, e.subject) for e in seen] == [
        ("OrganizationRegistered", 1, "Organization/acme"),
        ("OrganizationRenamed", 2, "Organization/acme"),
    ]
    assert await pending(outbox_source) == []


async def test_nothing_is_published_before_the_commit(outbox_source: EventSource) -> None:
    channel = InProcessChannel("live")
    committed_when_published: list[int] = []

    async def check(envelope: CloudEvent) -> None:
        stored = await outbox_source.load(envelope.stream_type, envelope.stream_id)
        committed_when_published.append(len(stored))

    channel.subscribe(check)
    repository = AggregateRepository(
        outbox_source, dispatcher=Dispatcher().add_channel(channel).route("Organization").to("live")
    )

    await register(repository, "acme", "A1", "A2")

    assert committed_when_published == [3, 3, 3]


async def test_routes_select_by_stream_type_and_event_type(outbox_source: EventSource) -> None:
    everything, renames, people = (
        InProcessChannel("everything"),
        InProcessChannel("renames"),
        InProcessChannel("people"),
    )
    seen_all, seen_renames, seen_people = captured(everything), captured(renames), captured(people)
    dispatcher = (
        Dispatcher()
        .add_channel(everything)
        .add_channel(renames)
        .add_channel(people)
        .route("Organization")
        .to("everything")
        .route(events=[OrganizationRenamed])
        .to("renames")
        .route("Person")
        .to("people")
    )
    repository = AggregateRepository(outbox_source, dispatcher=dispatcher)

    await register(repository, "acme", "Acme Corp")

    assert [e.type for e in seen_all] == ["OrganizationRegistered", "OrganizationRenamed"]
    assert [e.type for e in seen_renames] == ["OrganizationRenamed"]
    assert seen_people == []


async def test_a_route_to_an_unknown_channel_keeps_the_events_in_the_outbox(
    outbox_source: EventSource, caplog: pytest.LogCaptureFixture
) -> None:
    dispatcher = Dispatcher().add_channel(InProcessChannel("live")).route("Organization").to("typo")
    repository = AggregateRepository(outbox_source, dispatcher=dispatcher)

    with caplog.at_level(logging.WARNING, "messagehandler.dispatch"):
        await register(repository, "acme")

    assert await pending(outbox_source) == [("acme", 1, 1)]
    assert "'typo'" in caplog.text
    assert "Organization / any event -> typo" in caplog.text


async def test_the_relay_publishes_what_a_failed_publish_left_behind(outbox_source: EventSource) -> None:
    live = InProcessChannel("live")
    seen = captured(live)
    broken = Dispatcher().add_channel(InProcessChannel("live")).route("Organization").to("typo")
    await register(AggregateRepository(outbox_source, dispatcher=broken), "acme", "A1")
    dispatcher = Dispatcher().add_channel(live).route("Organization").to("live")

    report = await OutboxRelay(outbox_source, dispatcher, min_age=STRANDED).run_once()

    assert (report.entries, report.published, report.cleared, report.failed) == (1, 2, 1, 0)
    assert [e.stream_version for e in seen] == [1, 2]
    assert await pending(outbox_source) == []
    assert (await OutboxRelay(outbox_source, dispatcher, min_age=STRANDED).run_once()).entries == 0


async def test_a_later_flush_publishes_the_unpublished_versions_first(outbox_source: EventSource) -> None:
    broken = Dispatcher().add_channel(InProcessChannel("live")).route("Organization").to("typo")
    await register(AggregateRepository(outbox_source, dispatcher=broken), "acme", "A1")
    live = InProcessChannel("live")
    seen = captured(live)

    await rename(
        AggregateRepository(outbox_source, dispatcher=Dispatcher().add_channel(live).route("Organization").to("live")),
        "acme",
        "A2",
    )

    assert [e.stream_version for e in seen] == [1, 2, 3]
    assert await pending(outbox_source) == []


def test_the_relay_needs_an_outbox() -> None:
    with pytest.raises(ConfigurationError, match="outbox"):
        OutboxRelay(InMemoryEventSource(), Dispatcher().route("Organization").to("x"), min_age=STRANDED)


# Transactional delivery on a real queue --------------------------------------------------------


@pytest.fixture
def queue_name() -> str:
    return f"q{uuid.uuid4().hex[:20]}"


@pytest.fixture
async def table_source(azurite: AzuriteProcess, table_name: str) -> AsyncIterator[EventSource]:
    from messagehandler.eventsource.azure_tables import AzureTableStorageEventSource

    async with AzureTableStorageEventSource.from_connection_string(
        azurite.connection_string, table_name, outbox=True
    ) as source:
        source.registry.register(*Organization.handled_event_types())
        yield source
        await source.table_client.delete_table()


async def drain(channel: StorageQueueChannel, expected: int, wait: float = 15.0) -> list[CloudEvent]:
    """Receive and complete until `expected` messages arrived or the deadline passed."""
    receiver = channel.receiver(visibility_timeout=timedelta(seconds=30))
    arrived: list[CloudEvent] = []
    deadline = time.monotonic() + wait
    try:
        while len(arrived) < expected and time.monotonic() < deadline:
            for message in await receiver.receive(32, wait=timedelta(seconds=1)):
                arrived.append(message.envelope)
                await message.complete()
    finally:
        await receiver.close()
    return arrived


@pytest.mark.azurite
async def test_a_queue_that_is_down_delays_delivery_and_loses_nothing(
    azurite: AzuriteProcess, table_source: EventSource, queue_name: str
) -> None:
    channel = StorageQueueChannel.from_connection_string(azurite.connection_string, queue_name, create_queue=False)
    dispatcher = Dispatcher().add_channel(channel).route("Organization").to(queue_name)
    repository = AggregateRepository(table_source, dispatcher=dispatcher)

    await register(repository, "acme", "A1")
    await rename(AggregateRepository(table_source, dispatcher=dispatcher), "acme", "A2")
    assert await pending(table_source) == [("acme", 1, 3)]

    async with QueueClient.from_connection_string(azurite.connection_string, queue_name) as queue:
        await queue.create_queue()
    await rename(AggregateRepository(table_source, dispatcher=dispatcher), "acme", "A3")

    arrived = await drain(channel, 4)
    stored = await table_source.load("Organization", "acme")
    assert [e.id for e in arrived] == [e.metadata.event_id for e in stored]
    assert await pending(table_source) == []
    await channel.close()


@pytest.mark.azurite
async def test_many_writers_every_event_arrives_at_least_once_in_stream_order(
    azurite: AzuriteProcess, table_source: EventSource, queue_name: str
) -> None:
    channel = StorageQueueChannel.from_connection_string(azurite.connection_string, queue_name)
    dispatcher = Dispatcher().add_channel(channel).route("Organization").to(queue_name)
    ids = [f"org-{n}" for n in range(6)]

    async def writer(org_id: str) -> None:
        await register(AggregateRepository(table_source, dispatcher=dispatcher), org_id)
        for n in range(4):
            await rename(AggregateRepository(table_source, dispatcher=dispatcher), org_id, f"{org_id} {n}")

    await asyncio.gather(*(writer(org_id) for org_id in ids))
    arrived = await drain(channel, 30)

    for org_id in ids:
        stored = [e.metadata.event_id for e in await table_source.load("Organization", org_id)]
        first_seen = list(dict.fromkeys(e.id for e in arrived if e.stream_id == org_id))
        assert first_seen == stored
    assert await pending(table_source) == []
    await channel.close()


def run_crashing_writer(azurite: AzuriteProcess, table: str, queue: str, moment: str) -> int:
    env = {**os.environ, "MESSAGEHANDLER_TEST_CONNECTION_STRING": azurite.connection_string}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    completed = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "tests.dispatch.crash_writer", table, queue, moment],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    return completed.returncode


@pytest.mark.azurite
async def test_a_crash_between_commit_and_publish_loses_nothing(
    azurite: AzuriteProcess, table_source: EventSource, table_name: str, queue_name: str
) -> None:
    assert run_crashing_writer(azurite, table_name, queue_name, "after-commit") == -9

    stored = await table_source.load("Organization", "crashed")
    assert len(stored) == 2
    assert await pending(table_source) == [("crashed", 1, 2)]
    channel = StorageQueueChannel.from_connection_string(azurite.connection_string, queue_name)
    report = await OutboxRelay(
        table_source, Dispatcher().add_channel(channel).route("Organization").to(queue_name), min_age=STRANDED
    ).run_once()

    assert report.published == 2
    arrived = await drain(channel, 2)
    assert [e.id for e in arrived] == [e.metadata.event_id for e in stored]
    assert await pending(table_source) == []
    await channel.close()


@pytest.mark.azurite
async def test_a_crash_after_publishing_leaves_the_row_for_the_relay_which_delivers_again(
    azurite: AzuriteProcess, table_source: EventSource, table_name: str, queue_name: str
) -> None:
    assert run_crashing_writer(azurite, table_name, queue_name, "after-publish") == -9

    stored = [e.metadata.event_id for e in await table_source.load("Organization", "crashed")]
    assert await pending(table_source) == [("crashed", 1, 2)]  # its deferred clear died with it
    channel = StorageQueueChannel.from_connection_string(azurite.connection_string, queue_name)
    report = await OutboxRelay(
        table_source, Dispatcher().add_channel(channel).route("Organization").to(queue_name), min_age=STRANDED
    ).run_once()

    assert (report.published, report.cleared) == (2, 1)
    arrived = await drain(channel, 4)
    assert [e.id for e in arrived] == stored + stored  # at least once: the flush's copy and the relay's
    assert await pending(table_source) == []
    await channel.close()


@pytest.mark.azurite
async def test_a_crash_before_the_commit_publishes_nothing(
    azurite: AzuriteProcess, table_source: EventSource, table_name: str, queue_name: str
) -> None:
    assert run_crashing_writer(azurite, table_name, queue_name, "before-commit") == -9

    assert await table_source.load("Organization", "crashed") == []
    assert await pending(table_source) == []
    channel = StorageQueueChannel.from_connection_string(azurite.connection_string, queue_name)
    report = await OutboxRelay(
        table_source, Dispatcher().add_channel(channel).route("Organization").to(queue_name), min_age=STRANDED
    ).run_once()
    assert report.entries == 0
    assert await drain(channel, 1, wait=2) == []
    await channel.close()


async def test_one_entry_the_relay_cannot_read_does_not_hold_up_the_others() -> None:
    from messagehandler import Event, EventTypeRegistry
    from messagehandler.testing import recorded

    class Forgotten(Event, type_name="Forgotten"):
        pass

    source = InMemoryEventSource(EventTypeRegistry(closed=True), outbox=True)  # a reader that lacks Forgotten
    source.registry.register(*Organization.handled_event_types())
    await source.append("Organization", "a-unreadable", 0, recorded("Organization", "a-unreadable", [Forgotten()]))
    broken = Dispatcher().add_channel(InProcessChannel("live")).route("Organization").to("typo")
    await register(AggregateRepository(source, dispatcher=broken), "b-fine")
    live = InProcessChannel("live")
    seen = captured(live)

    report = await OutboxRelay(
        source, Dispatcher().add_channel(live).route("Organization").to("live"), min_age=STRANDED
    ).run_once()

    assert (report.entries, report.failed, report.cleared) == (2, 1, 1)
    assert [e.subject for e in seen] == ["Organization/b-fine"]
    assert await pending(source) == [("a-unreadable", 1, 1)]
