"""Several receivers of one consumer group: the partitions are balanced through the checkpoint store's ownership
records (the real BlobCheckpointStore on Azurite), and taken over, from their checkpoints, when a receiver stops."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from azure.eventhub.extensions.checkpointstoreblobaio import BlobCheckpointStore

from messagehandler.channels import ReceivedMessage
from messagehandler.channels.streaming.eventhubs_receiver import EventHubDelivery, EventHubReceiver
from messagehandler.testing.envelopes import envelopes, interleaved
from tests.channels.eventhubs.conftest import HUB
from tests.channels.eventhubs.test_eventhubs_receiver import (
    MakeReceiver,
    broker_namespace,
    checkpoint_store,
    make_receiver,
    publish,
)
from tests.support.amqp_broker import AmqpTestBroker

__all__ = ["checkpoint_store", "make_receiver"]
pytestmark = pytest.mark.azurite
PARTITIONS = 4
BALANCING = timedelta(seconds=1)
EXPIRY = 20
"""Seconds an unrenewed claim holds (the SDK's default is 6 balancing intervals): on a busy machine a late
renewal must not move a partition mid-test; a closed receiver gives its claims up at once anyway."""


@pytest.fixture
def broker_options() -> dict[str, Any]:
    return {"event_hubs": {HUB: PARTITIONS}}


async def owners(store: BlobCheckpointStore, broker: AmqpTestBroker) -> dict[str, str]:
    """Partition id -> owner id of the ownership records that are still claimed."""
    records = await store.list_ownership(broker_namespace(broker), HUB, "$Default")
    return {record["partition_id"]: record["owner_id"] for record in records if record.get("owner_id")}


async def drain(
    receivers: list[EventHubReceiver], taken: dict[str, list[ReceivedMessage]], stop: asyncio.Event
) -> None:
    """Keep every receiver receiving and completing, noting who got what, until `stop`."""

    async def loop(receiver: EventHubReceiver) -> None:
        while not stop.is_set():
            for message in await receiver.receive(50, wait=timedelta(milliseconds=100)):
                taken.setdefault(receiver.name, []).append(message)
                await message.complete()

    await asyncio.gather(*(loop(receiver) for receiver in receivers))


async def until(condition: Any, within: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, f"{what} did not happen within {within} s"
        await asyncio.sleep(0.2)


async def test_two_receivers_split_the_partitions_and_one_takes_all_back_when_the_other_stops(
    broker: AmqpTestBroker, make_receiver: MakeReceiver, checkpoint_store: BlobCheckpointStore
) -> None:
    first = make_receiver(
        name="first", load_balancing_interval=BALANCING, partition_ownership_expiration_interval=EXPIRY
    )
    second = make_receiver(
        name="second", load_balancing_interval=BALANCING, partition_ownership_expiration_interval=EXPIRY
    )
    taken: dict[str, list[ReceivedMessage]] = {}
    stop_first, stop_second = asyncio.Event(), asyncio.Event()
    running = [asyncio.ensure_future(drain([first], taken, stop_first))]

    await until(_claimed(checkpoint_store, broker, 1, PARTITIONS), 30, "the first receiver owning every partition")
    running.append(asyncio.ensure_future(drain([second], taken, stop_second)))
    await until(_balanced(checkpoint_store, broker), 30, "the partitions split between the receivers")
    await until(_handed_over(first, second), 30, "each receiver reading only the partitions it owns")

    before = interleaved(*(envelopes(f"o-{n}", 3) for n in range(8)))
    await publish(broker, before)
    await until(_received(taken, before), 30, "the events before the stop received")
    assert taken.get("first"), "each receiver read its own partitions"
    assert taken.get("second"), "each receiver read its own partitions"
    halves = {
        name: {m.partition_id for m in messages if isinstance(m, EventHubDelivery)} for name, messages in taken.items()
    }
    assert not halves["first"] & halves["second"], "no partition read by both"

    stop_second.set()
    await running[1]
    await second.close()
    await until(_claimed(checkpoint_store, broker, 1, PARTITIONS), 30, "the first receiver taking every partition back")
    after = interleaved(*(envelopes(f"p-{n}", 3) for n in range(8)))
    await publish(broker, after)
    await until(_received(taken, [*before, *after]), 30, "the events after the stop received")
    stop_first.set()
    await running[0]

    counts = Counter(m.envelope.id for messages in taken.values() for m in messages)
    assert set(counts) == {e.id for e in [*before, *after]}
    assert all(counts[e.id] == 1 for e in [*before, *after]), (
        "the survivor resumed after the stopped receiver's checkpoints"
    )
    for stream in {e.stream_id for e in [*before, *after]}:
        got = [m.envelope.id for messages in taken.values() for m in messages if m.envelope.stream_id == stream]
        assert got == sorted(set(got), key=got.index)


def _claimed(store: BlobCheckpointStore, broker: AmqpTestBroker, owner_count: int, partitions: int) -> Any:
    async def check() -> bool:
        claimed = await owners(store, broker)
        return len(claimed) == partitions and len(set(claimed.values())) == owner_count

    return check


def _handed_over(*receivers: EventHubReceiver) -> Any:
    async def check() -> bool:
        reading = [receiver.reading for receiver in receivers]
        return (
            sum(len(partitions) for partitions in reading) == PARTITIONS
            and len(frozenset().union(*reading)) == PARTITIONS
        )

    return check


def _balanced(store: BlobCheckpointStore, broker: AmqpTestBroker) -> Any:
    async def check() -> bool:
        claimed = await owners(store, broker)
        return len(claimed) == PARTITIONS and sorted(Counter(claimed.values()).values()) == [2, 2]

    return check


def _received(taken: dict[str, list[ReceivedMessage]], sent: list[Any]) -> Any:
    async def check() -> bool:
        return {e.id for e in sent} <= {m.envelope.id for messages in taken.values() for m in messages}

    return check
