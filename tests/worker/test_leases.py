"""Leased work across worker processes: one holder at a time, a new one within the lease period after a SIGKILL.

Three `messagehandler run` processes share a durable read model and the outbox relay, elected with blob
leases on Azurite (15 s, Azure's shortest). The read model records every version it applies, per
stream: after the leaders are killed mid-stream and others take over from the checkpoint, each
stream's list must be exactly 1..n - nothing applied twice, nothing out of order - and the successor
must not have applied what the checkpoint already held (a rebuild from zero would).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import datetime
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
from messagehandler.projections.checkpoints import decode
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
RETRY = 1.0
"""The app's `lease_retry`: how often a follower tries to take a lease."""
MARGIN = RETRY + 1.0
"""A follower takes a lease at most RETRY after it ran out, plus one acquire round trip (1 s on a busy machine)."""
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


def the_leader(running: list[WorkerProcess], service: str) -> WorkerProcess | None:
    """The one worker leading `service`, None while there is none or (briefly, never in steady state) two."""
    found = leaders(running, service)
    return found[0] if len(found) == 1 else None


def applied_everything(running: list[WorkerProcess], events: int) -> bool:
    return any((worker.service("applied") or {}).get("events") == events for worker in leaders(running, "applied"))


def acquired_at(worker: WorkerProcess, lease: str) -> float | None:
    """When `worker` last acquired `lease`, by the time in its own JSON log (seconds since the epoch)."""
    for line in reversed(worker.text().splitlines()):
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            if str(entry.get("message", "")).startswith(f"lease {lease!r}: acquired"):
                return datetime.fromisoformat(entry["time"]).timestamp()
    return None


def trail(folder: Path, worker: WorkerProcess) -> dict[str, list[int]]:
    """The versions `worker` applied to each stream, in the order it applied them."""
    applied: dict[str, list[int]] = defaultdict(list)
    path = folder / f"{worker.process.pid}.log"
    for line in path.read_text().splitlines() if path.exists() else []:
        stream, version = line.split()
        applied[stream].append(int(version))
    return applied


async def checkpointed(store: TableCheckpointStore) -> dict[str, int]:
    """The version of each stream the saved checkpoint of the read model has applied."""
    data = await store.read("applied")
    return {} if data is None else dict(decode(data, Applied).position.versions)


async def relayed(azurite: AzuriteProcess, queue: str, expected: set[str], within: float = 60.0) -> set[str]:
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
    """The leaders of the read model and of the relay are killed (one process or two); the survivors take over.

    The takeover time is the successor's own log time of its acquisition, minus the moment just before
    the kill: the test's polling adds nothing to it.
    """
    folder = tmp_path / "trail"
    folder.mkdir()
    env = {"MESSAGEHANDLER_CONNECTION_STRING": azurite.connection_string, "TEST_TRAIL": str(folder), **names}
    registry = EventTypeRegistry([ReadingRecorded])
    async with (
        AzureTableStorageEventSource.from_connection_string(
            azurite.connection_string, names["TEST_TABLE"], registry=registry, outbox=True
        ) as source,
        TableCheckpointStore.from_connection_string(azurite.connection_string, names["TEST_CHECKPOINTS"]) as store,
    ):
        ids = await append(source, range(1, 6))
        with workers(APP, env, tmp_path, 3, extra=["--log-format", "json"]) as running:
            for worker in running:
                worker.wait_ready()
            model_leader = eventually(lambda: the_leader(running, "applied"), within=60, what="a read model leader")
            relay_leader = eventually(lambda: the_leader(running, "relay"), within=60, what="a relay leader")
            deadline = time.monotonic() + 60
            while await checkpointed(store) != {f"p-{n}": 5 for n in range(STREAMS)}:
                assert time.monotonic() < deadline, "the first events were not checkpointed"
                await asyncio.sleep(0.1)

            ids += await append(source, range(6, 11))  # in flight for both leaders when they die
            killed_at = time.time()
            killed = {model_leader, relay_leader}
            for worker in killed:
                worker.kill()
            survivors = [worker for worker in running if worker not in killed]
            model_successor = eventually(
                lambda: the_leader(survivors, "applied"), within=LEASE + 30, what="a new leader"
            )
            relay_successor = eventually(lambda: the_leader(survivors, "relay"), within=LEASE + 30, what="a new relay")
            for successor, lease in ((model_successor, "readmodel-applied"), (relay_successor, "relay-relay")):
                taken = eventually(lambda s=successor, n=lease: acquired_at(s, n), what=f"{lease} acquisition logged")
                assert taken - killed_at < LEASE + MARGIN, f"{lease} taken over after {taken - killed_at:.1f} s"

            eventually(lambda: applied_everything(survivors, 10 * STREAMS), what="the events after the kill applied")
            ids += await append(source, range(11, 14))
            eventually(lambda: applied_everything(survivors, 13 * STREAMS), what="the newest events applied")
            assert await relayed(azurite, names["TEST_QUEUE"], set(ids)) == set(ids)
            assert the_leader(survivors, "applied") is model_successor
            assert the_leader(survivors, "relay") is relay_successor
            for worker in survivors:
                worker.terminate()
            assert [worker.wait() for worker in survivors] == [0] * len(survivors)

        continued = trail(folder, model_successor)
        model = DurableReadModel(Projector(source, AppliedProjection), Applied, "Plant", store, name="applied")
        opened = await model.open()
    for n in range(STREAMS):
        first = continued[f"p-{n}"][0]
        assert 6 <= first <= 11, f"the successor began p-{n} at version {first}, not after the checkpoint (5)"
        assert continued[f"p-{n}"] == list(range(first, 14)), "the successor applied a version twice or out of order"
    assert opened.start is Start.CHECKPOINT
    assert {stream: record.versions for stream, record in model.records.items()} == {
        f"p-{n}": list(range(1, 14)) for n in range(STREAMS)
    }
