"""The instruments: what operators watch, created once per meter provider.

| instrument | unit | attributes | recorded by |
|---|---|---|---|
| `messagehandler.appends` | {append} | stream type | every stored append |
| `messagehandler.append.events` | {event} | stream type | events per stored append (histogram) |
| `messagehandler.append.conflicts` | {conflict} | stream type | appends refused with `ConcurrencyError` |
| `messagehandler.command.retries` | {retry} | stream type | commands `retry_on_conflict` ran again |
| `messagehandler.outbox.entries` | {entry} | stream type | outbox entries pending, at each relay pass (gauge) |
| `messagehandler.outbox.oldest_age` | s | stream type | age of the oldest pending entry, at each relay pass (gauge) |
| `messagehandler.consumer.lag` | s | destination, query | event time to the moment its action ran (histogram) |
| `messagehandler.messages.dead_lettered` | {message} | destination, reason | messages set aside for good |
| `messagehandler.projection.events` | {event} | operation, stream type | events applied by restores and catch-ups |
| `messagehandler.projection.duration` | s | operation, stream type | duration of each restore or catch-up |
| `messagehandler.projection.throughput` | {event}/s | operation, stream type | events per second of the last one (gauge) |
| `messagehandler.cache.events` | {event} | stream type | events replicated into the cache |
| `messagehandler.cache.duration` | s | stream type | duration of replicating each stream type |
| `messagehandler.cache.throughput` | {event}/s | stream type | events per second of the last replication (gauge) |
| `messaging.client.sent.messages` | {message} | system, destination | envelopes a channel accepted |
| `messaging.client.consumed.messages` | {message} | system, destination | messages received by a processing host |
| `messaging.process.duration` | s | system, destination, query | duration of each action |
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from messagehandler.telemetry.attributes import STREAM_TYPE
from messagehandler.telemetry.providers import meter

if TYPE_CHECKING:
    from opentelemetry.metrics import Meter

_COUNT_BUCKETS = (1, 2, 5, 10, 20, 50, 100)
_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)


class Instruments:
    """Every instrument of one meter."""

    def __init__(self, meter: Meter) -> None:
        self.meter = meter
        counter, histogram, gauge = meter.create_counter, meter.create_histogram, meter.create_gauge
        self.appends = counter("messagehandler.appends", "{append}", "Appends stored, each one transaction")
        self.append_events = histogram(
            "messagehandler.append.events",
            "{event}",
            "Events per stored append",
            explicit_bucket_boundaries_advisory=_COUNT_BUCKETS,
        )
        self.conflicts = counter(
            "messagehandler.append.conflicts", "{conflict}", "Appends refused because another writer appended first"
        )
        self.retries = counter("messagehandler.command.retries", "{retry}", "Commands run again after a conflict")
        self.outbox_entries = gauge("messagehandler.outbox.entries", "{entry}", "Outbox entries not yet published")
        self.outbox_oldest_age = gauge(
            "messagehandler.outbox.oldest_age", "s", "Age of the oldest outbox entry not yet published"
        )
        self.lag = histogram(
            "messagehandler.consumer.lag",
            "s",
            "From an event's time to the moment a standing query's action ran for it",
            explicit_bucket_boundaries_advisory=_SECONDS_BUCKETS,
        )
        self.dead_lettered = counter(
            "messagehandler.messages.dead_lettered", "{message}", "Messages set aside for good (dead-letter, poison)"
        )
        self.projection = RunInstruments(meter, "messagehandler.projection", "a projection restore or catch-up")
        self.cache = RunInstruments(meter, "messagehandler.cache", "replicating a stream type into the cache")
        self.sent = counter("messaging.client.sent.messages", "{message}", "Messages a channel accepted")
        self.consumed = counter("messaging.client.consumed.messages", "{message}", "Messages received")
        self.process_duration = histogram(
            "messaging.process.duration",
            "s",
            "Duration of processing messages (a standing query's action)",
            explicit_bucket_boundaries_advisory=_SECONDS_BUCKETS,
        )


class RunInstruments:
    """Events, duration and throughput of one kind of long read (`{prefix}.events`, `.duration`, `.throughput`)."""

    def __init__(self, meter: Meter, prefix: str, what: str) -> None:
        self.events = meter.create_counter(f"{prefix}.events", "{event}", f"Events read by {what}")
        self.duration = meter.create_histogram(
            f"{prefix}.duration", "s", f"Duration of {what}", explicit_bucket_boundaries_advisory=_SECONDS_BUCKETS
        )
        self.throughput = meter.create_gauge(f"{prefix}.throughput", "{event}/s", f"Events per second of {what}")

    def record(self, events: int, seconds: float, attributes: Mapping[str, str]) -> None:
        self.events.add(events, attributes)
        self.duration.record(seconds, attributes)
        if seconds > 0:
            self.throughput.set(events / seconds, attributes)


_current: list[Instruments] = []


def instruments() -> Instruments | None:
    """The instruments of the global meter provider's meter; None when metrics are not configured."""
    found = meter()
    if found is None:
        return None
    if not _current or _current[0].meter is not found:
        _current[:] = [Instruments(found)]
    return _current[0]


def count_retry(stream_type: str) -> None:
    """A command is run again after a conflict on a stream of `stream_type`."""
    if (measures := instruments()) is not None:
        measures.retries.add(1, {STREAM_TYPE: stream_type})
