"""`messagehandler run` as an orchestrator sees it: probes, SIGTERM, exit codes, and no message lost."""

from __future__ import annotations

import asyncio
import base64
import signal
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from azure.storage.queue.aio import QueueClient

from messagehandler import EventTypeRegistry, JsonEventSerializer
from messagehandler.channels import CloudEvent
from messagehandler.channels.transactional.servicebus import ServiceBusChannel
from messagehandler.channels.transactional.storage_queue import StorageQueueChannel
from messagehandler.testing import recorded
from messagehandler.testing.envelopes import envelopes, interleaved
from samples.processing.telemetry import ReadingRecorded
from tests.support.amqp_broker import AmqpTestBroker
from tests.support.amqp_broker.fixtures import broker, broker_options
from tests.worker.support import COMMAND, ROOT, WorkerProcess, eventually

if TYPE_CHECKING:
    from messagehandler.testing.azurite import AzuriteProcess

__all__ = ["broker", "broker_options"]
pytestmark = pytest.mark.azurite
APP = "tests.worker.apps.queue_app:app"
SERIALIZER = JsonEventSerializer(EventTypeRegistry([ReadingRecorded]))


@pytest.fixture
async def queue(azurite: AzuriteProcess) -> AsyncIterator[str]:
    name = f"worker-{uuid.uuid4().hex[:12]}"
    yield name
    async with QueueClient.from_connection_string(azurite.connection_string, name) as client:
        await client.delete_queue()


async def publish(azurite: AzuriteProcess, queue: str, streams: int) -> list[str]:
    events = [
        event
        for n in range(streams)
        for event in recorded("Plant", f"p-{n}", [ReadingRecorded(sensor=f"s-{n}", value=float(n))])
    ]
    async with StorageQueueChannel.from_connection_string(azurite.connection_string, queue) as channel:
        await channel.publish([CloudEvent.from_event(event, SERIALIZER) for event in events])
    return [event.metadata.event_id for event in events]


def lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def start(
    azurite: AzuriteProcess, queue: str, folder: Path, grace: float, *, python_api: bool = False
) -> WorkerProcess:
    env = {"MESSAGEHANDLER_CONNECTION_STRING": azurite.connection_string, "TEST_QUEUE": queue,
           "TEST_FOLDER": str(folder), "TEST_GRACE": str(grace)}  # fmt: skip
    worker = WorkerProcess(APP, env, folder / "worker.log", worker_id="w-1", python_api=python_api)
    worker.wait_ready()
    return worker


@pytest.mark.parametrize("python_api", [False, True], ids=["command", "python-api"])
async def test_sigterm_lets_in_flight_messages_finish_then_exits_zero(
    azurite: AzuriteProcess, queue: str, tmp_path: Path, python_api: bool
) -> None:
    """`messagehandler run module:app` and `messagehandler.worker.run(app)` behave the same."""
    ids = await publish(azurite, queue, 4)
    worker = start(azurite, queue, tmp_path, grace=30, python_api=python_api)
    assert worker.get("/healthz") == (200, {"status": "alive"})
    assert worker.get("/readyz") == (200, {"status": "ready"})
    eventually(lambda: len(lines(tmp_path / "started")) == 4, what="four actions in flight")
    assert (worker.service("readings") or {})["in_flight"] == 4

    worker.terminate()
    eventually(lambda: worker.get("/readyz")[0] == 503, what="readiness off while draining")
    assert worker.get("/healthz")[0] == 200
    (tmp_path / "gate").touch()

    assert worker.wait() == 0
    assert sorted(lines(tmp_path / "done")) == sorted(ids)
    async with QueueClient.from_connection_string(azurite.connection_string, queue) as client:
        assert (await client.get_queue_properties()).approximate_message_count == 0
    log = worker.text()
    assert "SIGTERM received, shutting down gracefully" in log
    assert "completed 4" in log


async def test_messages_still_in_flight_when_the_grace_ends_are_released_to_the_queue(
    azurite: AzuriteProcess, queue: str, tmp_path: Path
) -> None:
    ids = await publish(azurite, queue, 3)
    worker = start(azurite, queue, tmp_path, grace=1)
    eventually(lambda: len(lines(tmp_path / "started")) == 3, what="three actions in flight")

    worker.terminate()

    assert worker.wait() == 0
    assert lines(tmp_path / "done") == []
    assert "releasing 3 messages still in flight at shutdown" in worker.text()
    async with QueueClient.from_connection_string(azurite.connection_string, queue) as client:
        again = [message async for message in client.receive_messages(max_messages=32, visibility_timeout=60)]
    assert sorted(CloudEvent.from_json(base64.b64decode(m.content)).id for m in again) == sorted(ids)
    assert {message.dequeue_count for message in again} == {2}


@pytest.mark.parametrize(
    ("number", "python_api"),
    [(signal.SIGTERM, False), (signal.SIGINT, False), (signal.SIGTERM, True), (signal.SIGINT, True)],
    ids=["sigterm-command", "sigint-command", "sigterm-python-api", "sigint-python-api"],
)
async def test_a_second_signal_during_shutdown_stops_at_once_with_128_plus_its_number(
    azurite: AzuriteProcess, queue: str, tmp_path: Path, number: int, python_api: bool
) -> None:
    await publish(azurite, queue, 2)
    worker = start(azurite, queue, tmp_path, grace=60, python_api=python_api)
    eventually(lambda: len(lines(tmp_path / "started")) == 2, what="two actions in flight")

    worker.terminate(number)
    eventually(lambda: worker.get("/readyz")[0] == 503, what="readiness off while draining")
    worker.terminate(number)

    assert worker.wait(within=20) == 128 + number
    async with QueueClient.from_connection_string(azurite.connection_string, queue) as client:
        kept = (await client.get_queue_properties()).approximate_message_count
    assert kept == 2, "neither completed nor deleted: they come back when their visibility timeout ends"
    assert f"second {signal.Signals(number).name}, stopping at once" in worker.text()


@pytest.mark.parametrize("sessions", [False, True], ids=["queue", "sessions"])
async def test_service_bus_messages_still_in_flight_when_the_grace_ends_are_abandoned_to_the_broker(
    broker: AmqpTestBroker, tmp_path: Path, sessions: bool
) -> None:
    sent = interleaved(*(envelopes(f"o-{n}", 1) for n in range(3)))
    env = {"TEST_SERVICEBUS": broker.connection_string(), "TEST_QUEUE": "orders", "TEST_SESSIONS": "1" if sessions
           else "0", "TEST_FOLDER": str(tmp_path), "TEST_GATE": "1", "TEST_GRACE": "1"}  # fmt: skip
    worker = WorkerProcess("tests.worker.apps.servicebus_app:app", env, tmp_path / "worker.log", worker_id="w-1")
    await asyncio.to_thread(worker.wait_ready)
    async with ServiceBusChannel.from_connection_string(
        broker.connection_string(), queue_name="orders", sessions=sessions
    ) as channel:
        await channel.publish(sent)
    await asyncio.to_thread(eventually, lambda: len(lines(tmp_path / "started")) == 3, what="three actions in flight")
    assert broker.queued("orders") == []

    worker.terminate()

    assert await asyncio.to_thread(worker.wait) == 0
    assert "releasing 3 messages still in flight at shutdown" in worker.text()
    assert lines(tmp_path / "processed") == [], "no action finished"
    ids = sorted(envelope.id for envelope in sent)
    settled = [s for s in broker.settlements() if s.address == "orders"]
    assert sorted(str(s.message_id) for s in settled if s.outcome == "modified") == ids, "each abandoned once"
    assert {s.outcome for s in settled} <= {"modified", "released"}, "none completed nor dead-lettered"
    assert sorted(str(m.id) for m in broker.queued("orders")) == ids, "all back on the queue for the next worker"


@pytest.mark.parametrize(
    ("app", "code", "says"),
    [
        ("tests.worker.apps.missing:app", 2, "cannot import module 'tests.worker.apps.missing'"),
        ("tests.worker.apps.queue_app:not_an_app", 2, "is str, not a WorkerApp"),
        ("tests.worker.apps.queue_app:broken", 1, "service 'fails' failed"),
    ],
)
def test_exit_codes_say_what_went_wrong(app: str, code: int, says: str, tmp_path: Path) -> None:
    ran = subprocess.run(  # noqa: S603 - fixed arguments
        [str(COMMAND), "run", app, "--no-health"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )

    assert ran.returncode == code, ran.stderr
    assert says in ran.stderr
