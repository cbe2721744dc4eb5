"""A worker app for the shutdown tests: one host on a Storage Queue whose action waits for a gate file.

Settings come from the environment: MESSAGEHANDLER_CONNECTION_STRING, TEST_QUEUE, TEST_FOLDER (the
action notes `started` and `done` event ids there and waits for a file `gate`), TEST_GRACE (seconds).
"""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta
from pathlib import Path

from messagehandler import EventTypeRegistry, JsonEventSerializer
from messagehandler.channels.transactional.storage_queue import StorageQueueChannel
from messagehandler.processing import ActionableContext, ProcessingHost, channel_source
from messagehandler.worker import WorkerApp, WorkerContext
from samples.processing.telemetry import ReadingRecorded
from samples.processing.transformation import EventSummary, SummaryQuery

app = WorkerApp("queue-test")


def note(name: str, line: str) -> None:
    with (Path(os.environ["TEST_FOLDER"]) / name).open("a") as handle:
        handle.write(line + "\n")


async def record(outcome: ActionableContext[EventSummary]) -> None:
    note("started", outcome.message.event_id)
    gate = Path(os.environ["TEST_FOLDER"]) / "gate"
    while not gate.exists():  # noqa: ASYNC110 - the gate is a file the test process creates
        await asyncio.sleep(0.05)
    note("done", outcome.message.event_id)


@app.host(grace=timedelta(seconds=float(os.environ.get("TEST_GRACE", "20"))))
async def readings(context: WorkerContext) -> ProcessingHost:
    channel = await context.enter(
        StorageQueueChannel.from_connection_string(
            os.environ["MESSAGEHANDLER_CONNECTION_STRING"], os.environ["TEST_QUEUE"]
        )
    )
    receiver = channel.receiver(
        visibility_timeout=timedelta(seconds=120), poll_interval_max=timedelta(milliseconds=200)
    )
    serializer = JsonEventSerializer(EventTypeRegistry([ReadingRecorded]))
    return ProcessingHost(channel_source(receiver, wait=timedelta(milliseconds=200)), serializer).add(
        SummaryQuery(), record
    )


broken = WorkerApp("broken")


@broken.host
async def fails(context: WorkerContext) -> ProcessingHost:
    raise RuntimeError("the application's factory failed")


not_an_app = "a string"
