"""Workers scaling out on a broker: several `messagehandler run` processes on one Service Bus queue of the AMQP
test broker, as competing consumers, and with sessions keeping each stream on one worker at a time, in order."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from messagehandler.channels.transactional.servicebus import ServiceBusChannel
from messagehandler.testing.envelopes import envelopes, interleaved
from tests.support.amqp_broker import AmqpTestBroker
from tests.support.amqp_broker.fixtures import broker, broker_options
from tests.worker.support import eventually, workers

__all__ = ["broker", "broker_options"]
APP = "tests.worker.apps.servicebus_app:app"


def processed(folder: Path) -> list[tuple[str, str, int, str]]:
    path = folder / "processed"
    if not path.exists():
        return []
    return [(w, s, int(v), e) for w, s, v, e in (line.split() for line in path.read_text().splitlines())]


@pytest.mark.parametrize("sessions", [False, True], ids=["competing-consumers", "sessions"])
async def test_two_workers_share_a_queue_and_each_event_is_processed_once(
    broker: AmqpTestBroker, tmp_path: Path, sessions: bool
) -> None:
    streams = [envelopes(f"o-{n}", 6) for n in range(6)]
    sent = interleaved(*streams)
    env = {"TEST_SERVICEBUS": broker.connection_string(), "TEST_QUEUE": "orders",
           "TEST_SESSIONS": "1" if sessions else "0", "TEST_FOLDER": str(tmp_path)}  # fmt: skip
    with workers(APP, env, tmp_path, 2) as running:
        for worker in running:
            await asyncio.to_thread(worker.wait_ready)
        async with ServiceBusChannel.from_connection_string(
            broker.connection_string(), queue_name="orders", sessions=sessions
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
