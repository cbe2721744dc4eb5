"""A worker app for the scale-out tests: one host on a Service Bus queue of the AMQP test broker.

Settings from the environment: TEST_SERVICEBUS (connection string), TEST_QUEUE, or TEST_TOPIC and
TEST_SUBSCRIPTION, TEST_SESSIONS ("1" for a session-enabled entity), TEST_FOLDER (each processed event is noted in `processed` as
"worker stream version event-id", appended by every worker to the one file), TEST_GATE ("1": each action
notes its event id in `started` and waits for a file `gate` there), TEST_GRACE (seconds, default 5).
"""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta
from pathlib import Path

from messagehandler.channels.transactional.servicebus import ServiceBusChannel
from messagehandler.events.event import Event
from messagehandler.processing import ActionableContext, ProcessingHost, channel_source, transform
from messagehandler.testing.envelopes import SERIALIZER
from messagehandler.worker import WorkerApp, WorkerContext

app = WorkerApp("servicebus-test")


class Everything:
    name = "everything"

    def build(self, stream):  # type: ignore[no-untyped-def]
        return stream.pipe(transform(lambda context: context.message))


@app.host(grace=timedelta(seconds=float(os.environ.get("TEST_GRACE", "5"))))
async def orders(context: WorkerContext) -> ProcessingHost:
    channel = await context.enter(
        ServiceBusChannel.from_connection_string(
            os.environ["TEST_SERVICEBUS"],
            queue_name=os.environ.get("TEST_QUEUE"),
            topic_name=os.environ.get("TEST_TOPIC"),
            sessions=os.environ["TEST_SESSIONS"] == "1",
        )
    )
    subscription = os.environ.get("TEST_SUBSCRIPTION")
    folder = Path(os.environ["TEST_FOLDER"])
    notes = folder / "processed"
    gated = os.environ.get("TEST_GATE") == "1"

    async def note(outcome: ActionableContext[Event]) -> None:
        meta = outcome.message.metadata
        if gated:
            with (folder / "started").open("a") as handle:
                handle.write(f"{meta.event_id}\n")
            while not (folder / "gate").exists():  # noqa: ASYNC110 - the gate is a file the test process creates
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.01)  # long enough for a second worker on the same stream to show up in between
        with notes.open("a") as handle:
            handle.write(f"{context.worker_id} {meta.source_id} {meta.version} {meta.event_id}\n")

    source = channel_source(
        channel.receiver(subscription, session_idle=timedelta(seconds=1)),
        batch_size=4,
        wait=timedelta(milliseconds=200),
    )
    return ProcessingHost(source, SERIALIZER).add(Everything(), note)
