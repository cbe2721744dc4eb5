"""Standing-query throughput: the processing host with the transformation query.

1. In-process: events/s through the host from the in-process channel (volatile) with the sample
   `SummaryQuery` and a no-op action. The input is published before the clock starts and frozen
   out of the garbage collector (`gc.freeze`), so the figure is the host's own cost per event, not
   the cost of scanning the pre-built input. After a warm-up round, the median of the rounds counts
   (`in_process_events_per_s`), with the best round and the events per CPU second alongside: on a
   shared machine the CPU figure shows the host's own cost when the wall-clock one is crowded out.
2. Storage Queue on Azurite: the host receiving, acting on and deleting M messages, against the raw
   azure-storage-queue aio client receiving (32 per request), decoding and deleting the same number of
   messages, in the same run; rounds alternate and the median of each side counts.

Run: python bench/standing_queries.py [--events N] [--rounds R] [--queue-messages M]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import json
import statistics
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from messagehandler import EventTypeRegistry, JsonEventSerializer
from messagehandler.channels import ChannelKind, CloudEvent
from messagehandler.channels.volatile.in_process import InProcessChannel
from messagehandler.processing import Action, ActionableContext, ProcessingHost, channel_source
from messagehandler.testing import recorded
from samples.processing.telemetry import ReadingRecorded
from samples.processing.transformation import EventSummary, SummaryQuery

SERIALIZER = JsonEventSerializer(EventTypeRegistry([ReadingRecorded]))


def envelopes(count: int) -> list[CloudEvent]:
    events = recorded("Plant", "p1", [ReadingRecorded(sensor=f"s{n % 10}", value=float(n)) for n in range(count)])
    return [CloudEvent.from_event(event, SERIALIZER) for event in events]


def counting_action(count: int) -> tuple[Action[EventSummary], asyncio.Event]:
    """A no-op action that sets the event once it has seen `count` outcomes."""
    done = asyncio.Event()
    seen = 0

    async def act(outcome: ActionableContext[EventSummary]) -> None:
        nonlocal seen
        seen += 1
        if seen == count:
            done.set()

    return act, done


async def in_process_round(count: int) -> tuple[float, float]:
    """Seconds of wall time and of CPU time for `count` events through the host."""
    channel = InProcessChannel(buffer_size=count)
    await channel.publish(envelopes(count))
    act, done = counting_action(count)
    source = channel_source(channel, batch_size=512, wait=timedelta(milliseconds=5))
    host = ProcessingHost(source, SERIALIZER, max_in_flight=4096).add(SummaryQuery(), act)
    gc.collect()
    gc.freeze()
    try:
        wall, cpu = time.perf_counter(), time.process_time()
        await host.start()
        await done.wait()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        await host.stop()
    finally:
        gc.unfreeze()
    return wall, cpu


async def raw_queue_round(connection_string: str, count: int) -> float:
    from azure.storage.queue.aio import QueueClient

    from messagehandler.channels.transactional.storage_queue import StorageQueueChannel

    name = f"bench-raw-{uuid.uuid4().hex[:12]}"
    async with StorageQueueChannel.from_connection_string(connection_string, name) as channel:
        await channel.publish(envelopes(count))
    async with QueueClient.from_connection_string(connection_string, name) as client:
        handled = 0
        start = time.perf_counter()
        while handled < count:
            page = [m async for m in client.receive_messages(max_messages=32, messages_per_page=32)]
            for message in page:
                CloudEvent.from_json(base64.b64decode(message.content)).to_event(SERIALIZER)
            await asyncio.gather(*(client.delete_message(message) for message in page))
            handled += len(page)
        elapsed = time.perf_counter() - start
        await client.delete_queue()
    return elapsed


async def host_queue_round(connection_string: str, count: int) -> float:
    from azure.storage.queue.aio import QueueClient

    from messagehandler.channels.transactional.storage_queue import StorageQueueChannel

    name = f"bench-host-{uuid.uuid4().hex[:12]}"
    async with StorageQueueChannel.from_connection_string(connection_string, name) as channel:
        await channel.publish(envelopes(count))
        receiver = channel.receiver(poll_interval_max=timedelta(milliseconds=50))
        source = channel_source(receiver, ChannelKind.TRANSACTIONAL, batch_size=32, wait=timedelta(milliseconds=200))

        act, acted = counting_action(count)
        host = ProcessingHost(source, SERIALIZER, max_in_flight=256).add(SummaryQuery(), act)
        start = time.perf_counter()
        await host.start()
        await acted.wait()
        await host.idle()
        assert host.stats.completed == count
        elapsed = time.perf_counter() - start
        await host.stop()
    async with QueueClient.from_connection_string(connection_string, name) as client:
        await client.delete_queue()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--queue-messages", type=int, default=1_000)
    parser.add_argument("--queue-rounds", type=int, default=3)
    args = parser.parse_args()

    asyncio.run(in_process_round(args.events // 10))
    walls, cpus = [], []
    for _ in range(args.rounds):
        wall, cpu = asyncio.run(in_process_round(args.events))
        walls.append(wall)
        cpus.append(cpu)
        print(f"in-process: {args.events / wall:,.0f} events/s ({args.events / cpu:,.0f} per CPU second)")

    from messagehandler.testing.azurite import running_azurite

    raw_times, host_times = [], []
    with running_azurite() as azurite:
        for _ in range(args.queue_rounds):
            raw_times.append(asyncio.run(raw_queue_round(azurite.connection_string, args.queue_messages)))
            host_times.append(asyncio.run(host_queue_round(azurite.connection_string, args.queue_messages)))
            print(f"storage queue: raw client {raw_times[-1]:.2f}s, host {host_times[-1]:.2f}s")
    raw, host = statistics.median(raw_times), statistics.median(host_times)
    result = {
        "in_process_events_per_s": round(args.events / statistics.median(walls)),
        "in_process_events_per_s_median": round(args.events / statistics.median(walls)),
        "in_process_events_per_s_best": round(args.events / min(walls)),
        "in_process_events_per_cpu_s": round(args.events / statistics.median(cpus)),
        "in_process_events_per_cpu_s_best": round(args.events / min(cpus)),
        "rounds": args.rounds,
        "events": args.events,
        "queue_messages": args.queue_messages,
        "queue_host_events_per_s": round(args.queue_messages / host),
        "queue_raw_events_per_s": round(args.queue_messages / raw),
        "queue_time_ratio": round(host / raw, 3),
        "goals": {"in_process_events_per_s": ">= 150000 (median of the rounds)"},
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
