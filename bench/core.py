"""Core throughput: save one new event and load a 10-event aggregate, against the eventsourcing library.

Both sides use in-memory storage that serialises events (our InMemoryEventSource, their POPO
recorder), and both run the same domain: an organization that is registered and renamed. Rounds
alternate between the two libraries and the median round counts, because machines here are shared.

Run: python bench/core.py [--events N] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from messagehandler import AggregateRepository, InMemoryEventSource
from samples.organization import Organization


class TheirOrganization(Aggregate):
    @event("Registered")
    def __init__(self, name: str) -> None:
        self.name = name

    @event("Renamed")
    def rename(self, name: str) -> None:
        self.name = name


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def ours_save(n: int) -> float:
    async def run() -> float:
        repository = AggregateRepository(InMemoryEventSource())
        org = Organization("acme")
        org.register("Acme")
        repository.add(org)
        await repository.flush()
        start = time.perf_counter()
        for i in range(n):
            org.rename(f"Acme {i}")
            await repository.flush()
        return time.perf_counter() - start

    return asyncio.run(run())


def theirs_save(n: int) -> float:
    app = Application()
    org = TheirOrganization("Acme")
    app.save(org)
    start = time.perf_counter()
    for i in range(n):
        org.rename(f"Acme {i}")
        app.save(org)
    return time.perf_counter() - start


def ours_load(n: int) -> float:
    async def run() -> float:
        source = InMemoryEventSource()
        repository = AggregateRepository(source)
        org = Organization("acme")
        org.register("Acme")
        for i in range(9):
            org.rename(f"Acme {i}")
        repository.add(org)
        await repository.flush()
        start = time.perf_counter()
        for _ in range(n):
            loaded = await AggregateRepository(source).get(Organization, "acme")
        elapsed = time.perf_counter() - start
        assert loaded.version == 10
        return elapsed

    return asyncio.run(run())


def theirs_load(n: int) -> float:
    app = Application()
    org = TheirOrganization("Acme")
    for i in range(9):
        org.rename(f"Acme {i}")
    app.save(org)
    start = time.perf_counter()
    for _ in range(n):
        loaded = app.repository.get(org.id)
    elapsed = time.perf_counter() - start
    assert loaded.version == 10
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000, help="operations per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    n = args.events
    times: dict[str, list[float]] = {"ours_save": [], "theirs_save": [], "ours_load": [], "theirs_load": []}
    for _ in range(args.rounds):
        times["ours_save"].append(ours_save(n))
        times["theirs_save"].append(theirs_save(n))
        times["ours_load"].append(ours_load(n // 4))
        times["theirs_load"].append(theirs_load(n // 4))
    rate = {key: (n if "save" in key else n // 4) / statistics.median(values) for key, values in times.items()}
    result = {
        "save_per_s": round(rate["ours_save"]),
        "eventsourcing_save_per_s": round(rate["theirs_save"]),
        "load_per_s": round(rate["ours_load"]),
        "eventsourcing_load_per_s": round(rate["theirs_load"]),
        "save_ratio": round(rate["ours_save"] / rate["theirs_save"], 2),
        "load_ratio": round(rate["ours_load"] / rate["theirs_load"], 2),
    }
    print(f"{'':24}{'messagehandler':>16}{'eventsourcing':>16}{'ratio':>8}")
    print(
        f"{'save (1 new event)/s':24}{result['save_per_s']:>16,}{result['eventsourcing_save_per_s']:>16,}{result['save_ratio']:>8}"
    )
    print(
        f"{'load (10 events)/s':24}{result['load_per_s']:>16,}{result['eventsourcing_load_per_s']:>16,}{result['load_ratio']:>8}"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
