"""A worker app for the Event Hubs scale-out test: one host on an event hub of the AMQP test broker, its
checkpoints and partition ownership in a blob container on Azurite.

Settings from the environment: TEST_EVENTHUB (connection string), TEST_STORAGE (Azurite), TEST_CONTAINER,
TEST_FOLDER (each processed event is noted in `processed` as "worker partition event-id").
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from azure.eventhub.extensions.checkpointstoreblobaio import BlobCheckpointStore

from messagehandler.channels.streaming.eventhubs_receiver import EventHubDelivery, EventHubReceiver
from messagehandler.events.event import Event
from messagehandler.processing import ActionableContext, ProcessingHost, channel_source
from messagehandler.testing.envelopes import SERIALIZER
from messagehandler.worker import WorkerApp, WorkerContext
from tests.worker.apps.servicebus_app import Everything

app = WorkerApp("eventhubs-test")


@app.host(grace=timedelta(seconds=5))
async def telemetry(context: WorkerContext) -> ProcessingHost:
    store = await context.enter(
        BlobCheckpointStore.from_connection_string(os.environ["TEST_STORAGE"], os.environ["TEST_CONTAINER"])
    )
    receiver = EventHubReceiver.from_connection_string(
        os.environ["TEST_EVENTHUB"],
        eventhub_name="telemetry",
        checkpoint_store=store,
        load_balancing_interval=timedelta(seconds=1),
        retry_total=0,
    )
    notes = Path(os.environ["TEST_FOLDER"]) / "processed"

    async def note(outcome: ActionableContext[Event]) -> None:
        with notes.open("a") as handle:
            for source in outcome.contexts:
                delivery = source.received
                partition = delivery.partition_id if isinstance(delivery, EventHubDelivery) else "?"
                handle.write(f"{context.worker_id} {partition} {outcome.message.metadata.event_id}\n")

    return ProcessingHost(channel_source(receiver, wait=timedelta(milliseconds=200)), SERIALIZER).add(
        Everything(), note
    )
