"""Workers scaling out on a broker: several `messagehandler run` processes on one Service Bus queue of the AMQP
test broker, as competing consumers, and with sessions keeping each stream on one worker at a time, in order."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter, defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from messagehandler.channels.transactional.servicebus import ServiceBusChannel
from messagehandler.testing.envelopes import envelopes, interleaved
from tests.support.amqp_broker import AmqpTestBroker
from tests.support.amqp_broker.fixtures import broker, broker_options
from tests.worker.support import eventually, workers

if TYPE_CHECKING:
    from messagehandler.testing.azurite import AzuriteProcess

__all__ = ["broker", "broker_options"]
APP = "tests.worker.apps.servicebus_app:app"


def processed(folder: Path) -> list[tuple[str, str, int, str]]:
    path = folder / "processed"
    if not path.exists():
        return []
    return [(w, s, int(v), e) for w, s, v, e in (line.split() for line in path.read_text().splitlines())]


@pytest.mark.parametrize("sessions", [False, True], ids=["competing-consumers", "sessions"])
@pytest.mark.parametrize("topic", [False, True], ids=["queue", "subscription"])
async def test_two_workers_share_a_queue_and_each_event_is_processed_once(
    broker: AmqpTestBroker, tmp_path: Path, sessions: bool, topic: bool
) -> None:
    """On a queue, or on one subscription of a topic (whose other subscription gets its own copy of everything)."""
    streams = [envelopes(f"o-{n}", 6) for n in range(6)]
    sent = interleaved(*streams)
    entity = {"TEST_TOPIC": "events", "TEST_SUBSCRIPTION": "shipping"} if topic else {"TEST_QUEUE": "orders"}
    env = {"TEST_SERVICEBUS": broker.connection_string(), "TEST_SESSIONS": "1" if sessions else "0",
           "TEST_FOLDER": str(tmp_path), **entity}  # fmt: skip
    if topic:
        broker.add_subscription("events", "shipping")
        broker.add_subscription("events", "billing")
    with workers(APP, env, tmp_path, 2) as running:
        for worker in running:
            await asyncio.to_thread(worker.wait_ready)
        async with ServiceBusChannel.from_connection_string(
            broker.connection_string(),
            queue_name=None if topic else "orders",
            topic_name="events" if topic else None,
            sessions=sessions,
        ) as channel:
            await channel.publish(sent)
        await asyncio.to_thread(
            eventually, lambda: len(processed(tmp_path)) >= len(sent), within=60, what="every event processed"
        )
        for worker in running:
            worker.terminate()
        codes = [await asyncio.to_thread(worker.wait) for worker in running]

    notes = processed(tmp_path)
    assert codes == [0, 0]
    assert sorted(event for _, _, _, event in notes) == sorted(envelope.id for envelope in sent), "each exactly once"
    assert set(Counter(worker for worker, *_ in notes)) == {"worker-0", "worker-1"}, "both workers had a share"
    if sessions:
        versions: dict[str, list[int]] = defaultdict(list)
        for _, stream, version, _ in notes:
            versions[stream].append(version)
        assert versions == {f"o-{n}": [1, 2, 3, 4, 5, 6] for n in range(6)}, "each stream in order"
    if topic:
        assert len(broker.queued("events/Subscriptions/billing")) == len(sent), "the other subscription kept its copy"


@pytest.mark.azurite
@pytest.mark.parametrize("broker_options", [{"event_hubs": {"telemetry": 4}}])
async def test_two_workers_split_an_event_hubs_partitions_and_one_takes_over_when_the_other_is_killed(
    broker: AmqpTestBroker, azurite: AzuriteProcess, tmp_path: Path
) -> None:
    from azure.eventhub.extensions.checkpointstoreblobaio import BlobCheckpointStore
    from azure.eventhub.extensions.checkpointstoreblobaio._vendor.storage.blob.aio import ContainerClient

    from messagehandler.channels.streaming.eventhubs import EventHubChannel

    container = f"hub-{uuid.uuid4().hex[:10]}"
    async with ContainerClient.from_connection_string(azurite.connection_string, container) as client:
        await client.create_container()
    env = {"TEST_EVENTHUB": broker.connection_string(), "TEST_STORAGE": azurite.connection_string,
           "TEST_CONTAINER": container, "TEST_FOLDER": str(tmp_path)}  # fmt: skip
    namespace = f"127.0.0.1:{broker.port}"

    async def owners() -> Counter[str]:
        async with BlobCheckpointStore.from_connection_string(azurite.connection_string, container) as store:
            records = await store.list_ownership(namespace, "telemetry", "$Default")
        return Counter(record["owner_id"] for record in records if record.get("owner_id"))

    async def publish(prefix: str) -> list[str]:
        sent = interleaved(*(envelopes(f"{prefix}-{n}", 3) for n in range(8)))
        async with EventHubChannel.from_connection_string(
            broker.connection_string(), eventhub_name="telemetry", retry_total=0
        ) as channel:
            await channel.publish(sent)
        return [envelope.id for envelope in sent]

    async def until(check: Any, within: float, what: str) -> None:
        deadline = asyncio.get_running_loop().time() + within
        while not await check():
            assert asyncio.get_running_loop().time() < deadline, f"{what} did not happen within {within} s"
            await asyncio.sleep(0.25)

    async def split() -> bool:
        return sorted((await owners()).values()) == [2, 2]

    with workers("tests.worker.apps.eventhubs_app:app", env, tmp_path, 2) as running:
        for worker in running:
            await asyncio.to_thread(worker.wait_ready)
        await until(split, 40, "the partitions split two and two")
        before = await publish("a")

        async def all_before() -> bool:
            return set(before) <= {event for _, _, event in processed_hub(tmp_path)}

        await until(all_before, 30, "the first events processed")
        assert {worker for worker, _, _ in processed_hub(tmp_path)} == {"worker-0", "worker-1"}
        running[1].kill()

        async def taken_over() -> bool:
            return sorted((await owners()).values()) == [4]

        await until(taken_over, 40, "the survivor owning all four partitions")
        after = await publish("b")

        async def all_after() -> bool:
            return set(after) <= {event for _, _, event in processed_hub(tmp_path)}

        await until(all_after, 30, "the events after the kill processed")
        running[0].terminate()
        assert await asyncio.to_thread(running[0].wait) == 0

    notes = processed_hub(tmp_path)
    assert {event for worker, _, event in notes if event in after} == set(after)
    assert {worker for worker, _, event in notes if event in after} == {"worker-0"}, "the survivor read them all"


def processed_hub(folder: Path) -> list[tuple[str, str, str]]:
    path = folder / "processed"
    if not path.exists():
        return []
    return [(w, p, e) for w, p, e in (line.split() for line in path.read_text().splitlines())]
