"""What the checks of every append cost: the round-trip scan of the JSON and Table Storage's limits in memory.

Two same-run ratios, medians of alternating rounds:
- `serialize_check_ratio`: `JsonEventSerializer.serialize` (pydantic's JSON plus the round-trip scan)
  against `model_dump_json` alone, per event;
- `append_limits_ratio`: one-event appends to `InMemoryEventSource()` (limits checked) against
  `InMemoryEventSource(limits=None)`, including serialisation, key and metadata checks on both sides.

Run: python bench/append_checks.py [--events N] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from messagehandler import Event, EventTypeRegistry, InMemoryEventSource, JsonEventSerializer
from messagehandler.eventsource import TableLimits
from messagehandler.testing import recorded
from samples.organization import OrganizationRegistered, OrganizationRenamed


def stamped(count: int) -> list[Event]:
    return [
        recorded("Organization", "acme", [OrganizationRenamed(name=f"Acme {n}")], start_version=n + 1, who="bench")[0]
        for n in range(count)
    ]


def serialize_times(events: list[Event]) -> tuple[float, float]:
    serialize = JsonEventSerializer().serialize
    start = time.process_time()
    for event in events:
        serialize(event)
    checked = time.process_time() - start
    start = time.process_time()
    for event in events:
        event.model_dump_json()
    return checked, time.process_time() - start


async def append_time(events: list[Event], limits: TableLimits | None) -> float:
    kwargs = {} if limits is not None else {"limits": None}
    source = InMemoryEventSource(EventTypeRegistry([OrganizationRegistered, OrganizationRenamed]), **kwargs)
    start = time.process_time()
    for version, event in enumerate(events):
        await source.append("Organization", "acme", version, [event])
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    serialize_ratios, append_ratios, limited_rates = [], [], []
    for _ in range(args.rounds):
        checked, plain = serialize_times(stamped(args.events))
        serialize_ratios.append(checked / plain)
        limited = asyncio.run(append_time(stamped(args.events), TableLimits()))
        unlimited = asyncio.run(append_time(stamped(args.events), None))
        append_ratios.append(limited / unlimited)
        limited_rates.append(args.events / limited)
    result = {
        "serialize_check_ratio": round(statistics.median(serialize_ratios), 3),
        "append_limits_ratio": round(statistics.median(append_ratios), 3),
        "limited_appends_per_s": round(statistics.median(limited_rates)),
    }
    print(f"serialize + round-trip scan / model_dump_json: {result['serialize_check_ratio']}")
    print(f"append with limits / append without:           {result['append_limits_ratio']}")
    print(f"appends with limits, CPU time:                 {result['limited_appends_per_s']:,}/s")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
