"""Capacity figures for stream types: events, bytes, the biggest event and the monthly growth estimate.

Events per hour are measured from the store's commit times (`stored_at`, Table Storage's
`Timestamp`), bucketed by UTC clock hour. The estimate follows the seed: biggest event x events per
hour x 24 x 30, with the busiest hour observed as the rate, so it is an upper bound for planning;
the same figure at the mean rate (events over the span from first to last commit, at least one
hour) is reported next to it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from messagehandler.cache.raw import RawEvent, from_micros
from messagehandler.cli.sizes import row_bytes

HOUR_US = 3_600_000_000
HOURS_PER_MONTH = 24 * 30


@dataclass
class Biggest:
    bytes: int = 0
    stream_id: str = ""
    version: int = 0
    event_type: str = ""


@dataclass
class TypeStats:
    stream_type: str
    events: int = 0
    json_bytes: int = 0
    row_bytes: int = 0
    biggest: Biggest = field(default_factory=Biggest)
    streams: set[str] = field(default_factory=set)
    hours: Counter[int] = field(default_factory=Counter)
    first_us: int | None = None
    last_us: int | None = None

    def add(self, raw: RawEvent, *, sharded: bool) -> None:
        size = row_bytes(raw, sharded=sharded)
        self.events += 1
        self.json_bytes += len(raw.body.encode())
        self.row_bytes += size
        self.streams.add(raw.stream_id)
        if size > self.biggest.bytes:
            self.biggest = Biggest(size, raw.stream_id, raw.version, raw.event_type)
        moment = raw.stored_at_us if raw.stored_at_us is not None else raw.when_us
        self.hours[moment // HOUR_US] += 1
        self.first_us = moment if self.first_us is None else min(self.first_us, moment)
        self.last_us = moment if self.last_us is None else max(self.last_us, moment)

    @property
    def peak_per_hour(self) -> int:
        return max(self.hours.values(), default=0)

    @property
    def peak_hour(self) -> datetime | None:
        if not self.hours:
            return None
        hour = max(self.hours, key=lambda h: (self.hours[h], h))
        return from_micros(hour * HOUR_US)

    @property
    def mean_per_hour(self) -> float:
        if self.first_us is None or self.last_us is None:
            return 0.0
        return self.events / max(1.0, (self.last_us - self.first_us) / HOUR_US)

    @property
    def growth_per_month(self) -> int:
        return self.biggest.bytes * self.peak_per_hour * HOURS_PER_MONTH

    @property
    def growth_per_month_at_mean(self) -> int:
        return round(self.biggest.bytes * self.mean_per_hour * HOURS_PER_MONTH)

    def to_json(self) -> dict[str, Any]:
        peak = self.peak_hour
        return {
            "stream_type": self.stream_type,
            "events": self.events,
            "streams": len(self.streams),
            "json_bytes": self.json_bytes,
            "row_bytes": self.row_bytes,
            "biggest_event": {
                "bytes": self.biggest.bytes,
                "stream_id": self.biggest.stream_id,
                "version": self.biggest.version,
                "event_type": self.biggest.event_type,
            },
            "first_commit": from_micros(self.first_us).isoformat() if self.first_us is not None else None,
            "last_commit": from_micros(self.last_us).isoformat() if self.last_us is not None else None,
            "peak_events_per_hour": self.peak_per_hour,
            "peak_hour": peak.isoformat() if peak else None,
            "mean_events_per_hour": round(self.mean_per_hour, 3),
            "growth_bytes_per_month": self.growth_per_month,
            "growth_bytes_per_month_at_mean": self.growth_per_month_at_mean,
        }


def combined(stats: Iterable[TypeStats]) -> TypeStats:
    """All types as one: the store's biggest event and its busiest hour across types."""
    total = TypeStats("*")
    for item in stats:
        total.events += item.events
        total.json_bytes += item.json_bytes
        total.row_bytes += item.row_bytes
        total.streams |= {f"{item.stream_type}/{s}" for s in item.streams}
        total.hours.update(item.hours)
        if item.biggest.bytes > total.biggest.bytes:
            total.biggest = item.biggest
        for moment in (item.first_us, item.last_us):
            if moment is not None:
                total.first_us = moment if total.first_us is None else min(total.first_us, moment)
                total.last_us = moment if total.last_us is None else max(total.last_us, moment)
    return total


def human_bytes(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def render(item: TypeStats) -> list[str]:
    big = item.biggest
    peak = item.peak_hour
    return [
        f"{item.stream_type}:",
        f"  events            {item.events:,} in {len(item.streams):,} streams",
        f"  bytes             {human_bytes(item.row_bytes)} as table rows, {human_bytes(item.json_bytes)} of JSON bodies",
        f"  biggest event     {human_bytes(big.bytes)} ({big.event_type} at {big.stream_id} version {big.version})",
        f"  events per hour   {item.peak_per_hour:,} at peak"
        + (f" ({peak:%Y-%m-%d %H:00} UTC)" if peak else "")
        + f", {item.mean_per_hour:,.1f} mean",
        f"  growth estimate   {human_bytes(item.growth_per_month)} per month "
        f"(biggest event x peak events/hour x 24 x 30); {human_bytes(item.growth_per_month_at_mean)} at the mean rate",
    ]
