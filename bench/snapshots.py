"""Loading a long-lived aggregate: a full replay against its snapshot, and against the state cache.

Run: `.venv/bin/python bench/snapshots.py` (starts its own Azurite). One aggregate of 10,000 events is
written to Table Storage through the repository (a snapshot policy of every 1,000 events, so its last
flush stores a snapshot at version 10,000). Then, after a warm-up, rounds alternate three loads through
`AggregateRepository.get`: `FullReplay` (every event), `Snapshots` (the snapshot plus the events after
it) and `Cached` (a hit: the events from the cached version on). Medians of the rounds are compared;
the requests of one snapshot load and of one cached load are counted with the SDK's request hook.
The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pydantic import BaseModel

from messagehandler import AggregateRepository, Cached, Event, EventSourced, FullReplay, SnapshotPolicy
from messagehandler.eventsource.azure_tables import AzureTableStorageEventSource
from messagehandler.testing import RequestLog
from messagehandler.testing.azurite import running_azurite

EVENTS, BATCH = 10_000, 50


class Deposited(Event, type_name="bench.Deposited"):
    amount: int
    reference: str


class AccountState(BaseModel):
    balance: int = 0
    deposits: int = 0
    last_reference: str = ""


class Account(EventSourced, snapshots=SnapshotPolicy(AccountState, every=1_000)):
    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.balance = 0
        self.deposits = 0
        self.last_reference = ""

    def deposit(self, amount: int, reference: str) -> None:
        self.emit(Deposited(amount=amount, reference=reference))

    def apply_deposited(self, event: Deposited) -> None:
        self.balance += event.amount
        self.deposits += 1
        self.last_reference = event.reference


async def timed(load: Callable[[], Awaitable[Account]]) -> float:
    start = time.perf_counter()
    account = await load()
    elapsed = time.perf_counter() - start
    assert (account.version, account.deposits, account.balance) == (EVENTS, EVENTS, EVENTS * (EVENTS + 1) // 2)
    return elapsed


async def main(rounds: int) -> None:
    requests = RequestLog()
    with running_azurite() as azurite:
        async with AzureTableStorageEventSource.from_connection_string(
            azurite.connection_string, "benchsnapshots", raw_request_hook=requests
        ) as source:
            writer = AggregateRepository(source)
            account = Account("acc")
            writer.add(account)
            for start in range(1, EVENTS + 1, BATCH):
                for n in range(start, start + BATCH):
                    account.deposit(n, f"ref-{n}")
                await writer.flush()
            snapshot = await source.read_snapshot("Account", "acc")
            assert snapshot is not None
            assert snapshot.version == EVENTS

            cache = Cached()
            loads: dict[str, Callable[[], Awaitable[Account]]] = {
                "full_replay": lambda: AggregateRepository(source, access={Account: FullReplay()}).get(Account, "acc"),
                "snapshot": lambda: AggregateRepository(source).get(Account, "acc"),
                "cached": lambda: AggregateRepository(source, access={Account: cache}).get(Account, "acc"),
            }
            for load in loads.values():  # warm-up; fills the cache
                await timed(load)
            requests.clear()
            await loads["snapshot"]()
            snapshot_requests = requests.kinds()
            requests.clear()
            await loads["cached"]()
            cached_requests = requests.kinds()

            times: dict[str, list[float]] = {name: [] for name in loads}
            for round_ in range(rounds):
                names = list(loads) if round_ % 2 == 0 else list(reversed(loads))
                for name in names:
                    times[name].append(await timed(loads[name]))
            await source.table_client.delete_table()

    medians = {name: statistics.median(values) for name, values in times.items()}
    result = {
        "events": EVENTS,
        "full_replay_ms": round(medians["full_replay"] * 1000, 2),
        "snapshot_ms": round(medians["snapshot"] * 1000, 2),
        "cached_ms": round(medians["cached"] * 1000, 2),
        "snapshot_speedup": round(medians["full_replay"] / medians["snapshot"], 1),
        "cached_speedup": round(medians["full_replay"] / medians["cached"], 1),
        "snapshot_load_requests": len(snapshot_requests),
        "cached_load_requests": len(cached_requests),
    }
    print(f"load of one aggregate of {EVENTS:,} events, medians of {rounds} alternating rounds after a warm-up")
    for name in loads:
        print(
            f"  {name:<12} {medians[name] * 1000:>9.2f} ms   (spread {min(times[name]) * 1000:.2f}-{max(times[name]) * 1000:.2f})"
        )
    print(f"  snapshot load requests: {snapshot_requests}; cached load requests: {cached_requests}")
    print(json.dumps(result))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    asyncio.run(main(parser.parse_args().rounds))
