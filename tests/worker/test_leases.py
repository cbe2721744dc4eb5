"""Leased work across worker processes: one holder at a time, a new one within the lease period after a SIGKILL.

Three `messagehandler run` processes share a durable read model and the outbox relay, elected with blob
leases on Azurite (15 s, Azure's shortest). The read model records every version it applies, per
stream: after the leader is killed mid-stream and another takes over from the checkpoint, each
stream's list must be exactly 1..n - nothing applied twice, nothing out of order.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from azure.data.tables.aio import TableServiceClient
from azure.storage.blob.aio import BlobServiceClient
from azure.storage.queue.aio import QueueClient

from messagehandler import EventTypeRegistry
from messagehandler.channels import CloudEvent
from messagehandler.eventsource.azure_tables import AzureTableStorageEventSource
from messagehandler.projections import DurableReadModel, Projector, Start
from messagehandler.projections.table_store import TableCheckpointStore
from messagehandler.testing import recorded
from samples.processing.telemetry import ReadingRecorded
from tests.worker.apps.lease_app import Applied, AppliedProjection
from tests.worker.support import WorkerProcess, eventually, workers

if TYPE_CHECKING:
    from messagehandler.testing.azurite import AzuriteProcess

pytestmark = pytest.mark.azurite
APP = "tests.worker.apps.lease_app:app"
LEASE = 15.0
STREAMS = 4


@pytest.fixture
async def names(azurite: AzuriteProcess) -> AsyncIterator[dict[str, str]]:
    suffix = uuid.uuid4().hex[:10]
    created = {"TEST_TABLE": f"events{suffix}", "TEST_CHECKPOINTS": f"checkpoints{suffix}",
               "TEST_LEASES": f"leases-{suffix}", "TEST_QUEUE": f"relayed-{suffix}"}  # fmt: skip
    yield created
    async with TableServiceClient.from_connection_string(azurite.connection_string) as tables:
        for table in (created["TEST_TABLE"], created["TEST_CHECKPOINTS"]):
            await tables.delete_table(table)
    async with BlobServiceClient.from_connection_string(azurite.connection_string) as blobs:
        await blobs.delete_container(created["TEST_LEASES"])
    async with QueueClient.from_connection_string(azurite.connection_string, created["TEST_QUEUE"]) as queue:
        await queue.delete_queue()


async def append(source: AzureTableStorageEventSource, versions: range) -> list[str]:
    ids = []
    for n in range(STREAMS):
        events = recorded(
            "Plant",
            f"p-{n}",
            [ReadingRecorded(sensor=f"s-{n}", value=float(v)) for v in versions],
            start_version=versions[0],
        )
        await source.append("Plant", f"p-{n}", versions[0] - 1, events)
        ids += [event.metadata.event_id for event in events]
    return ids


def leaders(running: list[WorkerProcess], service: str) -> list[WorkerProcess]:
    return [worker for worker in running if worker.process.poll() is None and worker.leads(service)]


def applied_everything(running: list[WorkerProcess], events: int) -> bool:
    return any((worker.service("applied") or {}).get("events") == events for worker in leaders(running, "applied"))


async def relayed(azurite: AzuriteProcess, queue: str, expected: set[str], within: float = 20.0) -> set[str]:
    """The event ids that arrived on the relay's queue (each at least once), waiting for `expected`."""
    seen: set[str] = set()
    deadline = time.monotonic() + within
    async with QueueClient.from_connection_string(azurite.connection_string, queue) as client:
        while seen != expected and time.monotonic() < deadline:
            async for message in client.receive_messages(max_messages=32, visibility_timeout=60):
                seen.add(CloudEvent.from_json(base64.b64decode(message.content)).id)
                await client.delete_message(message)
    return seen


async def test_a_killed_leader_is_replaced_within_the_lease_and_the_read_model_continues_from_its_checkpoint(
    azurite: AzuriteProcess, names: dict[str, str], tmp_path: Path
) -> None:
    env = {"MESSAGEHANDLER_CONNECTION_STRING": azurite.connection_string, **names}
    registry = EventTypeRegistry([ReadingRecorded])
    async with AzureTableStorageEventSource.from_connection_string(
        azurite.connection_string, names["TEST_TABLE"], registry=registry, outbox=True
    ) as source:
        ids = await append(source, range(1, 6))
        with workers(APP, env, tmp_path, 3) as running:
            for worker in running:
                worker.wait_ready()
            eventually(lambda: applied_everything(running, 5 * STREAMS), what="the first events applied")
            assert len(leaders(running, "applied")) == 1
            assert len(leaders(running, "relay")) == 1
            (leader,) = leaders(running, "applied")

            ids += await append(source, range(6, 11))
            leader.kill()
            killed_at = time.monotonic()
            (successor,) = eventually(lambda: leaders(running, "applied"), within=LEASE + 10, what="a new leader")
            took_over = time.monotonic() - killed_at
            assert successor is not leader
            assert took_over < LEASE + 5, f"taken over after {took_over:.1f} s"

            eventually(lambda: applied_everything(running, 10 * STREAMS), what="the events after the kill applied")
            ids += await append(source, range(11, 14))
            eventually(lambda: applied_everything(running, 13 * STREAMS), what="the newest events applied")
            assert len(leaders(running, "applied")) == 1
            assert await relayed(azurite, names["TEST_QUEUE"], set(ids), within=LEASE + 10) == set(ids)
            assert len(leaders(running, "relay")) == 1
            for worker in running:
                if worker is not leader:
                    worker.terminate()
            assert [worker.wait() for worker in running if worker is not leader] == [0, 0]

        async with TableCheckpointStore.from_connection_string(
            azurite.connection_string, names["TEST_CHECKPOINTS"]
        ) as store:
            model = DurableReadModel(Projector(source, AppliedProjection), Applied, "Plant", store, name="applied")
            opened = await model.open()
    assert opened.start is Start.CHECKPOINT
    assert {stream: record.versions for stream, record in model.records.items()} == {
        f"p-{n}": list(range(1, 14)) for n in range(STREAMS)
    }
