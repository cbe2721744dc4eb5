"""A worker app for the lease tests: a durable read model and the outbox relay, each on one worker at a time.

Settings from the environment: MESSAGEHANDLER_CONNECTION_STRING, TEST_TABLE (events, with the outbox),
TEST_CHECKPOINTS (checkpoint table), TEST_LEASES (blob container), TEST_QUEUE (where the relay publishes).
The read model records, per stream, every version it applied, in the order applied; with TEST_TRAIL set,
each process also appends what it applied to `TEST_TRAIL/{pid}.log`, so a test sees which process applied
what (a successor that continues from the checkpoint never applies what the checkpoint already holds).
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from pydantic import BaseModel, Field

from messagehandler import EventTypeRegistry, JsonEventSerializer
from messagehandler.channels.dispatcher import Dispatcher
from messagehandler.channels.relay import OutboxRelay
from messagehandler.channels.transactional.storage_queue import StorageQueueChannel
from messagehandler.eventsource.azure_tables import AzureTableStorageEventSource
from messagehandler.projections import DurableReadModel, Projection, Projector
from messagehandler.projections.table_store import TableCheckpointStore
from messagehandler.worker import BlobLeaseStore, WorkerApp, WorkerContext
from samples.processing.telemetry import ReadingRecorded

STRANDED = timedelta(0)
"""The relay's `min_age` here: these tests strand outbox rows themselves and relay them at once."""


class Applied(BaseModel):
    versions: list[int] = Field(default_factory=list)


class AppliedProjection(Projection[Applied]):
    def project(self, record: Applied, event: ReadingRecorded) -> None:
        record.versions.append(event.metadata.version)
        trail = os.environ.get("TEST_TRAIL")
        if trail:
            with (Path(trail) / f"{os.getpid()}.log").open("a") as log:
                log.write(f"{event.metadata.source_id} {event.metadata.version}\n")


def connection_string() -> str:
    return os.environ["MESSAGEHANDLER_CONNECTION_STRING"]


app = WorkerApp(
    "lease-test",
    leases=lambda context: BlobLeaseStore.from_connection_string(connection_string(), os.environ["TEST_LEASES"]),
    lease_duration=timedelta(seconds=15),
    lease_retry=timedelta(seconds=1),
)


async def event_source(context: WorkerContext) -> AzureTableStorageEventSource:
    return await context.enter(
        AzureTableStorageEventSource.from_connection_string(
            connection_string(), os.environ["TEST_TABLE"], registry=EventTypeRegistry([ReadingRecorded]), outbox=True
        )
    )


@app.read_model(interval=timedelta(milliseconds=300))
async def applied(context: WorkerContext) -> DurableReadModel[Applied]:
    source = await event_source(context)
    checkpoints = await context.enter(
        TableCheckpointStore.from_connection_string(connection_string(), os.environ["TEST_CHECKPOINTS"])
    )
    return DurableReadModel(Projector(source, AppliedProjection), Applied, "Plant", checkpoints, name="applied")


@app.relay(interval=timedelta(milliseconds=300))
async def relay(context: WorkerContext) -> OutboxRelay:
    source = await event_source(context)
    channel = await context.enter(
        StorageQueueChannel.from_connection_string(connection_string(), os.environ["TEST_QUEUE"])
    )
    dispatcher = Dispatcher(serializer=JsonEventSerializer(source.registry)).add_channel(channel)
    dispatcher.route("Plant").to(channel.name)
    return OutboxRelay(source, dispatcher, min_age=STRANDED)
