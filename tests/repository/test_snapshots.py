"""The `Snapshots` strategy on every event source: snapshot plus tail, a full replay whenever the snapshot cannot be trusted."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import BaseModel

from messagehandler import (
    AggregateRepository,
    Event,
    EventSource,
    EventSourced,
    FullReplay,
    SnapshotDefinitionError,
    SnapshotPolicy,
)
from messagehandler.domain.snapshots import snapshot_schema
from messagehandler.eventsource.observed import ObservedSource
from messagehandler.eventsource.snapshots import Snapshot, SnapshotSource
from tests.repository.backups import restore_older_backup
from tests.repository.counter import COUNTER, Added, Counter, CounterState, Named, Plain

ROOT = Path(__file__).resolve().parents[2]


async def counted(source: EventSource, amounts: list[int], id: str = "c", *, one_flush_each: bool = True) -> None:
    repository = AggregateRepository(source)
    counter = await repository.get(Counter, id)
    for amount in amounts:
        counter.add(amount)
        if one_flush_each:
            await repository.flush()
    await repository.flush()


def observed(source: EventSource) -> tuple[ObservedSource, list[list[int]]]:
    loads: list[list[int]] = []
    return ObservedSource(source, on_load=lambda events: loads.append([e.metadata.version for e in events])), loads


def snapshots(source: EventSource) -> SnapshotSource:
    assert isinstance(source, SnapshotSource)
    return source


async def test_a_load_is_the_latest_snapshot_plus_the_events_after_it(event_source: EventSource) -> None:
    await counted(event_source, list(range(1, 13)))
    watched, loads = observed(event_source)

    counter = await AggregateRepository(watched).get(Counter, "c")
    replayed = await AggregateRepository(event_source, access={Counter: FullReplay()}).get(Counter, "c")

    stored = await snapshots(event_source).read_snapshot(COUNTER, "c")
    assert stored is not None
    assert stored.version == 10
    assert loads == [[10, 11, 12]]
    assert (counter.version, counter.total, counter.count) == (12, sum(range(1, 13)), 12)
    assert (replayed.version, replayed.total, replayed.count) == (counter.version, counter.total, counter.count)
    assert [e.metadata.version for e in counter.history] == [11, 12]


async def test_one_flush_crossing_the_threshold_carries_the_snapshot_of_its_last_version(
    event_source: EventSource,
) -> None:
    await counted(event_source, [1, 2, 3], one_flush_each=False)
    assert await snapshots(event_source).read_snapshot(COUNTER, "c") is None

    await counted(event_source, [4, 5, 6, 7], one_flush_each=False)

    stored = await snapshots(event_source).read_snapshot(COUNTER, "c")
    assert stored is not None
    assert stored.version == 7
    assert CounterState.model_validate_json(stored.state) == CounterState(total=28, count=7)


async def test_a_changed_aggregate_replays_instead_of_trusting_an_old_snapshot(event_source: EventSource) -> None:
    await counted(event_source, list(range(1, 11)))

    class Counter(EventSourced, stream_type=COUNTER, snapshots=SnapshotPolicy(CounterState, every=5)):  # new code
        def __init__(self, id: str) -> None:
            super().__init__(id)
            self.total = 0
            self.count = 0

        def apply_added(self, event: Added) -> None:
            self.total += 2 * event.amount  # what an event means changed
            self.count += 1

    watched, loads = observed(event_source)
    changed = await AggregateRepository(watched).get(Counter, "c")

    assert loads == [list(range(1, 11))]
    assert (changed.total, changed.count) == (2 * sum(range(1, 11)), 10)
    old = await snapshots(event_source).read_snapshot(COUNTER, "c")
    assert old is not None
    assert old.schema != snapshot_schema(Counter, Counter.snapshot_policy())


async def test_a_snapshot_whose_state_no_longer_validates_is_replayed_over(
    event_source: EventSource, caplog: pytest.LogCaptureFixture
) -> None:
    await counted(event_source, [1, 2, 3])
    schema = snapshot_schema(Counter, Counter.snapshot_policy())
    repository = AggregateRepository(event_source)
    counter = await repository.get(Counter, "c")
    counter.add(4)
    await event_source.append(
        COUNTER,
        "c",
        3,
        counter.pending_events,
        snapshot=Snapshot(4, schema, '{"total": "many"}', counter.last_event_id),
    )

    with caplog.at_level(logging.WARNING, logger="messagehandler.repository"):
        loaded = await AggregateRepository(event_source).get(Counter, "c")

    assert (loaded.version, loaded.total) == (4, 10)
    assert "no longer validates" in caplog.text


async def test_a_snapshot_at_a_version_now_holding_another_event_is_replayed_over(
    event_source: EventSource, caplog: pytest.LogCaptureFixture
) -> None:
    await counted(event_source, [1, 2, 3, 4, 5])  # the snapshot at version 5: total 15
    taken = await snapshots(event_source).read_snapshot(COUNTER, "c")
    await restore_older_backup(event_source, COUNTER, "c", 3)  # the events table only: the snapshot row stays
    writer = AggregateRepository(event_source, access={Counter: FullReplay()})
    counter = await writer.get(Counter, "c")
    counter.add(100)
    counter.add(200)
    await writer.flush()
    watched, loads = observed(event_source)

    with caplog.at_level(logging.WARNING, logger="messagehandler.repository"):
        loaded = await AggregateRepository(watched).get(Counter, "c")

    assert taken is not None
    assert taken == await snapshots(event_source).read_snapshot(COUNTER, "c")
    assert taken.event_id is not None
    assert taken.event_id != counter.last_event_id
    assert (loaded.version, loaded.total) == (5, 306)
    assert loads == [[5], [1, 2, 3, 4, 5]]
    assert "snapshot of Counter/c is at version 5, which the stream no longer holds" in caplog.text


async def test_a_snapshot_naming_the_event_at_its_version_is_used(event_source: EventSource) -> None:
    await counted(event_source, [1, 2, 3, 4, 5, 6])
    replayed = await AggregateRepository(event_source, access={Counter: FullReplay()}).get(Counter, "c")

    stored = await snapshots(event_source).read_snapshot(COUNTER, "c")
    loaded = await AggregateRepository(event_source).get(Counter, "c")

    assert stored is not None
    assert stored.event_id == replayed.history[4].metadata.event_id
    assert (loaded.version, loaded.total, loaded.last_event_id) == (6, 21, replayed.last_event_id)


async def test_a_snapshot_stored_without_an_event_id_is_replayed_over_and_replaced(event_source: EventSource) -> None:
    await counted(event_source, [1, 2, 3])
    repository = AggregateRepository(event_source, access={Counter: FullReplay()})
    counter = await repository.get(Counter, "c")
    counter.add(4)
    legacy = Snapshot(4, snapshot_schema(Counter, Counter.snapshot_policy()), '{"total": 1000, "count": 4}')
    await event_source.append(COUNTER, "c", 3, counter.pending_events, snapshot=legacy)
    counter.commit()
    assert await snapshots(event_source).read_snapshot(COUNTER, "c") == legacy
    watched, loads = observed(event_source)

    repository = AggregateRepository(watched)
    loaded = await repository.get(Counter, "c")
    loaded.add(5)
    await repository.flush()

    assert (loaded.version, loaded.total) == (5, 15)
    assert loads == [[1, 2, 3, 4]]
    replacement = await snapshots(event_source).read_snapshot(COUNTER, "c")
    assert replacement is not None
    assert (replacement.version, replacement.event_id) == (5, loaded.last_event_id)


async def test_a_predicate_decides_when_to_snapshot(event_source: EventSource) -> None:
    class Big(
        EventSourced, stream_type="Big", snapshots=SnapshotPolicy(CounterState, when=lambda c, pending: c.total > 100)
    ):
        def __init__(self, id: str) -> None:
            super().__init__(id)
            self.total = 0
            self.count = 0

        def apply_added(self, event: Added) -> None:
            self.total += event.amount
            self.count += 1

    repository = AggregateRepository(event_source)
    big = Big("b")
    big.emit(Added(amount=60))
    repository.add(big)
    await repository.flush()
    assert await snapshots(event_source).read_snapshot("Big", "b") is None

    big.emit(Added(amount=60))
    await repository.flush()

    stored = await snapshots(event_source).read_snapshot("Big", "b")
    assert stored is not None
    assert stored.version == 2


async def test_a_state_model_missing_an_attribute_is_refused_before_anything_is_written(
    event_source: EventSource,
) -> None:
    class Leaky(EventSourced, stream_type="Leaky", snapshots=SnapshotPolicy(CounterState, every=1)):
        def __init__(self, id: str) -> None:
            super().__init__(id)
            self.total = 0
            self.count = 0
            self.last_amount = 0  # not in CounterState: a restore would lose it

        def apply_added(self, event: Added) -> None:
            self.total += event.amount
            self.count += 1
            self.last_amount = event.amount

    leaky = Leaky("l")
    leaky.emit(Added(amount=1))

    with pytest.raises(SnapshotDefinitionError, match="last_amount, which CounterState does not name"):
        AggregateRepository(event_source).add(leaky)
    with pytest.raises(SnapshotDefinitionError, match="last_amount"):
        await AggregateRepository(event_source).get(Leaky, "l")

    assert await event_source.load("Leaky", "l") == []


class Measured(BaseModel):
    total: int = 0


def meter() -> type[EventSourced]:
    class Meter(EventSourced, stream_type="Meter", snapshots=SnapshotPolicy(Measured, every=3)):
        """Its state model takes whole numbers only: a fraction makes the state impossible to capture."""

        def __init__(self, id: str) -> None:
            super().__init__(id)
            self.total: float = 0

        def apply_added(self, event: Added) -> None:
            self.total += event.amount + 0.25

    return Meter


def lazy() -> type[EventSourced]:
    class Lazy(EventSourced, stream_type="Lazy", snapshots=SnapshotPolicy(CounterState, every=2)):
        """Sets `count` only when its first event arrives: a new aggregate cannot tell the definition is wrong."""

        def __init__(self, id: str) -> None:
            super().__init__(id)
            self.total = 0

        def apply_added(self, event: Added) -> None:
            self.total += event.amount
            self.count = 1
            self.extra = 1  # not in CounterState: found only when a snapshot is taken

    return Lazy


@pytest.mark.parametrize(("make", "reason"), [(meter, "valid integer"), (lazy, "extra, which CounterState does not")])
async def test_a_state_that_cannot_be_captured_stores_the_events_without_a_snapshot_and_says_so_once(
    event_source: EventSource,
    caplog: pytest.LogCaptureFixture,
    make: Callable[[], type[EventSourced]],
    reason: str,
) -> None:
    kind = make()
    caplog.set_level(logging.WARNING, "messagehandler.repository")
    for n in range(1, 8):
        repository = AggregateRepository(event_source)
        aggregate = await repository.get(kind, "m")
        aggregate.emit(Added(amount=n))
        await repository.flush()

    assert len(await event_source.load(kind.stream_type(), "m")) == 7
    assert await snapshots(event_source).read_snapshot(kind.stream_type(), "m") is None
    told = [r.getMessage() for r in caplog.records if "no snapshot of" in r.getMessage()]
    assert len(told) == 1
    assert f"no snapshot of {kind.__qualname__} is stored" in told[0]
    assert reason in told[0]


async def test_a_load_that_found_a_stale_snapshot_takes_a_new_one_with_the_next_append(
    event_source: EventSource,
) -> None:
    class Older(EventSourced, stream_type=COUNTER, snapshots=SnapshotPolicy(CounterState, every=5)):
        """Counter as an older release wrote it: other code, so its snapshots have another schema."""

        def __init__(self, id: str) -> None:
            super().__init__(id)
            self.total = 0
            self.count = 0

        def apply_added(self, event: Added) -> None:
            self.count += 1
            self.total += event.amount

    older = AggregateRepository(event_source)
    old = Older("c")
    for n in range(1, 7):
        old.emit(Added(amount=n))
    older.add(old)
    await older.flush()
    stale = await snapshots(event_source).read_snapshot(COUNTER, "c")
    assert stale is not None
    assert stale.schema != snapshot_schema(Counter, Counter.snapshot_policy())

    repository = AggregateRepository(event_source)
    (await repository.get(Counter, "c")).add(7)
    await repository.flush()

    fresh = await snapshots(event_source).read_snapshot(COUNTER, "c")
    assert fresh is not None
    assert (fresh.version, fresh.schema) == (7, snapshot_schema(Counter, Counter.snapshot_policy()))
    assert (await AggregateRepository(event_source).get(Counter, "c")).total == 28


async def test_an_aggregate_holding_personal_data_cannot_be_snapshotted(event_source: EventSource) -> None:
    class State(BaseModel):
        name: str = ""

    class Patient(EventSourced, stream_type="Patient", snapshots=SnapshotPolicy(State, every=1)):
        def __init__(self, id: str) -> None:
            super().__init__(id)
            self.name = ""

        def apply_named(self, event: Named) -> None:
            self.name = event.name

    with pytest.raises(
        SnapshotDefinitionError, match=r"Patient cannot be snapshotted: it holds personal data \(tests.Named\)"
    ):
        await AggregateRepository(event_source).get(Patient, "p")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({}, "either every=N or when=predicate"),
        ({"every": 5, "when": lambda c, p: True}, "either every=N or when=predicate"),
        ({"every": 0}, "every must be an int >= 1"),
        ({"every": True}, "every must be an int >= 1"),
    ],
)
def test_a_policy_must_say_when(arguments: dict[str, object], message: str) -> None:
    with pytest.raises(SnapshotDefinitionError, match=message):
        SnapshotPolicy(CounterState, **arguments)  # type: ignore[arg-type]


def test_a_policy_state_is_a_pydantic_model() -> None:
    with pytest.raises(SnapshotDefinitionError, match="pydantic model class"):
        SnapshotPolicy(dict, every=1)  # type: ignore[arg-type]


def test_snapshots_takes_a_policy_object() -> None:
    with pytest.raises(SnapshotDefinitionError, match="takes a SnapshotPolicy"):

        class Wrong(EventSourced, snapshots=5):  # type: ignore[arg-type]
            pass


async def test_a_type_without_a_policy_cannot_use_snapshots(event_source: EventSource) -> None:
    from messagehandler import Snapshots

    with pytest.raises(SnapshotDefinitionError, match="Plain declares no snapshot policy"):
        await AggregateRepository(event_source, access={Plain: Snapshots()}).get(Plain, "p")


def test_the_schema_is_the_same_in_every_process() -> None:
    """Sets in the code are ordered by string hashing, which differs between processes; the schema must not."""
    here = snapshot_schema(Counter, Counter.snapshot_policy())
    code = (
        "from messagehandler.domain.snapshots import snapshot_schema\n"
        "from tests.repository.counter import Counter\n"
        "print(snapshot_schema(Counter, Counter.snapshot_policy()))\n"
    )
    for seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(  # noqa: S603 - fixed arguments
            [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
        )
        assert out.stdout.strip() == here


def test_the_schema_changes_with_the_state_model_and_the_policy_version() -> None:
    class Wider(CounterState):
        label: str = ""

    base = snapshot_schema(Counter, Counter.snapshot_policy())

    assert snapshot_schema(Counter, SnapshotPolicy(Wider, every=5)) != base
    assert snapshot_schema(Counter, SnapshotPolicy(CounterState, every=5, version="2")) != base
    assert snapshot_schema(Counter, SnapshotPolicy(CounterState, every=7)) == base


class Removed(Event, type_name="tests.Removed"):
    amount: int


def stepping(step: object, *, swapped: bool = False) -> type[EventSourced]:
    """The same code each time; only a class constant or which handler takes which event differs."""

    class Stepper(EventSourced, stream_type="Stepper", snapshots=SnapshotPolicy(CounterState, every=5)):
        STEP = step

        def __init__(self, id: str) -> None:
            super().__init__(id)
            self.total = 0
            self.count = 0

        def apply_up(self, event: Removed if swapped else Added) -> None:  # type: ignore[valid-type]
            self.total += event.amount * self.STEP

        def apply_down(self, event: Added if swapped else Removed) -> None:  # type: ignore[valid-type]
            self.total -= event.amount

    return Stepper


@pytest.mark.parametrize(
    ("changed", "kept"),
    [
        (stepping(2), stepping(1)),
        (stepping([1, 2]), stepping([1])),
        (stepping({"a": 1}), stepping({"a": 2})),
        (stepping(1, swapped=True), stepping(1)),
    ],
    ids=["constant", "list", "dict", "handler-table"],
)
def test_the_schema_changes_with_class_constants_and_the_handler_table(
    changed: type[EventSourced], kept: type[EventSourced]
) -> None:
    policy = kept.snapshot_policy()

    assert snapshot_schema(changed, policy) != snapshot_schema(kept, policy)
    assert snapshot_schema(stepping(1), policy) == snapshot_schema(stepping(1), policy)
    assert snapshot_schema(stepping({"a": 1, "b": 2}), policy) == snapshot_schema(stepping({"b": 2, "a": 1}), policy)


async def test_a_source_without_snapshots_is_read_by_full_replay_and_says_so_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from messagehandler import InMemoryEventSource

    class NoSnapshots:
        """A custom source that predates snapshots: it delegates everything but `read_snapshot`."""

        def __init__(self) -> None:
            self.inner = InMemoryEventSource()
            self.registry = self.inner.registry
            self.append = self.inner.append
            self.load = self.inner.load

    caplog.set_level(logging.WARNING, "messagehandler.repository")
    source = NoSnapshots()
    await counted(source, list(range(1, 8)))  # type: ignore[arg-type]

    counter = await AggregateRepository(source).get(Counter, "c")  # type: ignore[arg-type]

    assert (counter.version, counter.total) == (7, 28)
    told = [r for r in caplog.records if "keeps no snapshots" in r.getMessage()]
    assert len(told) == 1
    assert "NoSnapshots keeps no snapshots" in told[0].getMessage()


def test_restoring_a_snapshot_needs_a_new_aggregate() -> None:
    from messagehandler import StreamIntegrityError

    counter = Counter("c")
    counter.add(1)

    with pytest.raises(StreamIntegrityError, match="restore a snapshot into a new aggregate only"):
        counter.restore_snapshot(CounterState(total=5, count=1), 1)


class Reading(BaseModel):
    level: float | None = None
    tag: str = ""


class Scaled(Event, type_name="tests.Scaled"):
    factor: float
    sign: int = 1
    code: int = 0


class Gauge(EventSourced, stream_type="Gauge", snapshots=SnapshotPolicy(Reading, every=1)):
    """A state its events cannot hold: `factor * 1e308` overflows to infinity, times 0 it is NaN."""

    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.level: float | None = None
        self.tag = ""

    def apply_scaled(self, event: Scaled) -> None:
        self.level = event.factor * 1e308 * event.sign
        self.tag = chr(event.code) if event.code else ""


@pytest.mark.parametrize(
    ("event", "said"),
    [
        pytest.param(
            Scaled(factor=10),
            "snapshot of Gauge Gauge/g at version 1 left out, the events are stored as usual (loads replay them): "
            "it would not read back as it is: state field 'level' is inf",
            id="infinity-in-an-optional-float",
        ),
        pytest.param(
            Scaled(factor=10, sign=0),
            "snapshot of Gauge Gauge/g at version 1 left out, the events are stored as usual (loads replay them): "
            "it would not read back as it is: state field 'level' is nan",
            id="nan-in-an-optional-float",
        ),
        pytest.param(Scaled(factor=1e-308, code=0xD800), "surrogates not allowed", id="lone-surrogate"),
    ],
)
async def test_a_snapshot_that_would_not_read_back_is_left_out_and_the_events_stored(
    event_source: EventSource, caplog: pytest.LogCaptureFixture, event: Scaled, said: str
) -> None:
    repository = AggregateRepository(event_source)
    gauge = Gauge("g")
    gauge.emit(event.model_copy())
    repository.add(gauge)

    with caplog.at_level(logging.DEBUG, logger="messagehandler.repository"):  # warned once per type, then debug
        await repository.flush()

    assert await snapshots(event_source).read_snapshot("Gauge", "g") is None
    assert [e.metadata.version for e in await event_source.load("Gauge", "g")] == [1]
    assert said in caplog.text
    again = AggregateRepository(event_source)
    loaded = await again.get(Gauge, "g")
    replayed = await AggregateRepository(event_source, access={Gauge: FullReplay()}).get(Gauge, "g")
    assert (repr(loaded.level), loaded.tag) == (repr(replayed.level), replayed.tag)
    assert loaded.level is not None

    loaded.emit(Scaled(factor=1e-308))  # a state that reads back: the next snapshot is taken
    await again.flush()
    stored = await snapshots(event_source).read_snapshot("Gauge", "g")
    assert stored is not None
    assert (stored.version, Reading.model_validate_json(stored.state)) == (2, Reading(level=loaded.level))
    assert loaded.level == pytest.approx(1.0)
