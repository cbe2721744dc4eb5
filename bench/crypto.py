"""What encrypting personal data costs: an aggregate with marked fields, encrypted vs plain, on Azurite.

Run: `.venv/bin/python bench/crypto.py` (starts its own Azurite). Both sides write and read the same
payloads through `AzureTableStorageEventSource`: the plain side with classes that mark nothing, the
encrypted side with the same classes marking four fields as personal data and a `PersonalDataSerializer`
over a `Keyring` (keys wrapped by a local key-encryption key, stored in a `TableKeyStore` on the same
Azurite). The key cache is warm: every subject's key is fetched before timing, as in a running service.
Rounds alternate the two sides and medians are compared. The last line printed is one JSON object.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pydantic import BaseModel

from messagehandler import Event, EventTypeRegistry
from messagehandler.eventsource.azure_tables import AzureTableStorageEventSource
from messagehandler.personal import Keyring, LocalKeyEncryptionKey, PersonalData, PersonalDataSerializer
from messagehandler.personal.table_store import TableKeyStore
from messagehandler.testing import recorded
from messagehandler.testing.azurite import running_azurite

KIND = "Customer"
APPEND_AGGREGATES, APPEND_EVENTS, APPEND_CONCURRENCY = 200, 10, 8
LOAD_EVENTS = 1_000
REPEATS = {"append": 7, "load": 15}


class Address(BaseModel):
    street: str
    city: str


class PlainRegistered(Event, type_name="bench.PlainRegistered"):
    name: str
    email: str
    phone: str
    address: Address
    plan: str


class PlainNoted(Event, type_name="bench.PlainNoted"):
    note: str
    amount: int


class SealedAddress(BaseModel):
    street: Annotated[str, PersonalData(erased="")]
    city: str


class SealedRegistered(Event, type_name="bench.SealedRegistered"):
    name: Annotated[str, PersonalData(erased="")]
    email: Annotated[str, PersonalData(erased="")]
    phone: Annotated[str, PersonalData(erased="")]
    address: SealedAddress
    plan: str


class SealedNoted(Event, type_name="bench.SealedNoted"):
    note: Annotated[str, PersonalData(erased="")]
    amount: int


def history(stream_id: str, count: int, sealed: bool, start_version: int = 1) -> list[Event]:
    registered, noted, address = (
        (SealedRegistered, SealedNoted, SealedAddress) if sealed else (PlainRegistered, PlainNoted, Address)
    )
    events: list[Event] = []
    if start_version == 1:
        events.append(
            registered(
                name=f"Customer {stream_id}",
                email=f"{stream_id}@example.com",
                phone="+32 470 12 34 56",
                address=address(street="Main Street 1", city="Gent"),
                plan="gold",
            )
        )
    while len(events) < count:
        events.append(noted(note=f"called back about order {start_version + len(events)}", amount=len(events)))
    return recorded(KIND, stream_id, events, start_version=start_version, who="bench")


async def bounded(concurrency: int, jobs: list[Callable[[], Awaitable[Any]]]) -> None:
    queue = list(reversed(jobs))

    async def worker() -> None:
        while queue:
            await queue.pop()()

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def compare(
    name: str, sealed: Callable[[int], Awaitable[None]], plain: Callable[[int], Awaitable[None]]
) -> tuple[float, float]:
    times: dict[str, list[float]] = {"sealed": [], "plain": []}
    for repeat in range(REPEATS[name]):
        order = [("sealed", sealed), ("plain", plain)]
        if repeat % 2:
            order.reverse()
        for side, run in order:
            start = time.perf_counter()
            await run(repeat)
            times[side].append(time.perf_counter() - start)
    return statistics.median(times["sealed"]), statistics.median(times["plain"])


async def main() -> None:
    kek = LocalKeyEncryptionKey.generate()
    with running_azurite() as azurite:
        conn = azurite.connection_string
        keyring = Keyring(TableKeyStore.from_connection_string(conn, "benchkeys"), kek)
        serializer = PersonalDataSerializer(keyring, registry=EventTypeRegistry([SealedRegistered, SealedNoted]))
        plain_registry = EventTypeRegistry([PlainRegistered, PlainNoted])
        sources = {
            (scenario, side): AzureTableStorageEventSource.from_connection_string(
                conn,
                f"bench{side}{scenario}",
                **({"serializer": serializer} if side == "sealed" else {"registry": plain_registry}),
            )
            for scenario in ("append", "load")
            for side in ("sealed", "plain")
        }
        try:
            results = await run_scenarios(sources, serializer)
        finally:
            for source in sources.values():
                await source.close()
            await keyring.close()
    report(results)


async def run_scenarios(
    sources: dict[tuple[str, str], AzureTableStorageEventSource], serializer: PersonalDataSerializer
) -> dict[str, tuple[float, float, int]]:
    """Each scenario on tables of its own, as in bench/tables.py."""
    results: dict[str, tuple[float, float, int]] = {}
    sealed, plain = sources["append", "sealed"], sources["append", "plain"]
    batches = {
        (side, repeat): [
            history(f"{side}{repeat}-{n}", APPEND_EVENTS, side == "sealed") for n in range(APPEND_AGGREGATES)
        ]
        for side in ("sealed", "plain")
        for repeat in range(REPEATS["append"])
    }
    for repeat in range(REPEATS["append"]):  # warm: every subject's key exists and is cached
        await serializer.prepare_to_write([e for events in batches["sealed", repeat] for e in events])

    def appender(source: AzureTableStorageEventSource, side: str) -> Callable[[int], Awaitable[None]]:
        async def run(repeat: int) -> None:
            jobs = [lambda e=e: source.append(KIND, e[0].metadata.source_id, 0, e) for e in batches[side, repeat]]
            await bounded(APPEND_CONCURRENCY, jobs)

        return run

    sealed_time, plain_time = await compare("append", appender(sealed, "sealed"), appender(plain, "plain"))
    results["append"] = (sealed_time, plain_time, APPEND_AGGREGATES * APPEND_EVENTS)

    sealed, plain = sources["load", "sealed"], sources["load", "plain"]
    for source, is_sealed in ((sealed, True), (plain, False)):
        for start in range(1, LOAD_EVENTS + 1, 100):
            await source.append(KIND, "big", start - 1, history("big", 100, is_sealed, start_version=start))
    assert len(await sealed.load(KIND, "big")) == LOAD_EVENTS  # warm

    def loader(source: AzureTableStorageEventSource) -> Callable[[int], Awaitable[None]]:
        async def run(_: int) -> None:
            assert len(await source.load(KIND, "big")) == LOAD_EVENTS

        return run

    sealed_time, plain_time = await compare("load", loader(sealed), loader(plain))
    results["load"] = (sealed_time, plain_time, LOAD_EVENTS)
    return results


def report(results: dict[str, tuple[float, float, int]]) -> None:
    print(f"{'scenario':<10}{'events':>8}{'sealed s':>10}{'plain s':>10}{'ratio':>8}")
    summary: dict[str, Any] = {}
    for name, (sealed_time, plain_time, events) in results.items():
        ratio = sealed_time / plain_time
        print(f"{name:<10}{events:>8}{sealed_time:>10.3f}{plain_time:>10.3f}{ratio:>8.3f}")
        summary[f"encrypted_{name}_time_ratio"] = round(ratio, 3)
        summary[f"encrypted_{name}_events_per_s"] = round(events / sealed_time)
        summary[f"plain_{name}_events_per_s"] = round(events / plain_time)
    print(f"medians of {REPEATS} alternating rounds against Azurite on 127.0.0.1, key cache warm; goal <= 1.3 each")
    print(json.dumps(summary))


if __name__ == "__main__":
    asyncio.run(main())
