"""Catching up with a stream type when the store has no global sequence.

Table Storage orders nothing across partitions and its commit time (`Timestamp`) is only roughly
monotonic: a transaction in flight can commit with a time earlier than one already read, and shards of
a type live on partition servers whose clocks may differ. So a position is two things:

- the version seen of every stream, which makes re-reading harmless (seen versions are skipped), and
- a high-water mark of the store's commit times, which bounds how much must be re-read.

A catch-up reads everything stored since `high_water - margin`, drops versions already seen and, when
a stream shows a gap (its next event is older than the margin), loads the missing versions from the
stream itself. With a margin wider than commit latency plus clock skew, nothing is missed; the cost
of a wide margin is re-reading the events of that window, never correctness of the versions applied.

The high-water mark moves only when a pass has read everything: streams come in key order, not time
order, so a stream not yet reached can hold events older than the newest seen so far. A position saved
in the middle of a pass therefore still starts the next pass early enough.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from messagehandler.eventsource.bad_rows import SkipBadRows, load_failed
from messagehandler.eventsource.protocol import EventSource, EventStream

DEFAULT_MARGIN = timedelta(minutes=5)


@dataclass
class TypePosition:
    """How far a consumer has read one stream type."""

    versions: dict[str, int] = field(default_factory=dict)
    high_water: datetime | None = None
    _pass_high_water: datetime | None = field(default=None, compare=False, repr=False)

    def seen(self, stream_id: str) -> int:
        return self.versions.get(stream_id, 0)

    def advance(self, stream: EventStream) -> None:
        """Record a stream's events as seen; the high-water mark waits for `end_pass`."""
        if not stream.events:
            return
        self.versions[stream.stream_id] = stream.events[-1].metadata.version
        mark = self._pass_high_water
        for event in stream.events:
            stored_at = event.metadata.stored_at
            if stored_at is not None and (mark is None or stored_at > mark):
                mark = stored_at
        self._pass_high_water = mark

    def end_pass(self) -> None:
        """A pass read everything: move the high-water mark to the newest commit time it saw."""
        mark = self._pass_high_water
        if mark is not None and (self.high_water is None or mark > self.high_water):
            self.high_water = mark
        self._pass_high_water = None

    def to_json(self) -> dict[str, Any]:
        return {
            "versions": dict(self.versions),
            "high_water": self.high_water.isoformat() if self.high_water is not None else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TypePosition:
        high_water = data.get("high_water")
        return cls(
            versions={str(k): int(v) for k, v in data.get("versions", {}).items()},
            high_water=datetime.fromisoformat(high_water) if high_water else None,
        )


async def catch_up(
    source: EventSource,
    stream_type: str,
    position: TypePosition,
    *,
    margin: timedelta = DEFAULT_MARGIN,
    bad_rows: SkipBadRows | None = None,
) -> AsyncGenerator[EventStream, None]:
    """Yield, per stream, the events after `position`, advancing it as each stream is yielded.

    A stream is yielded with its unseen events in version order, starting right after the version
    the position has seen: never a gap, never a repeat. The high-water mark moves when the pass is
    read to its end. With a `bad_rows` policy, a stream holding a row that cannot be read (in the
    changes, or in the versions loaded to fill a gap) is skipped and reported, and its version in the
    position stays where it was; without one, the read raises.
    """
    since = position.high_water - margin if position.high_water is not None else None
    if bad_rows is None:
        changes = source.read_changes(stream_type, since)
    else:
        changes = source.read_changes(stream_type, since, bad_rows=bad_rows)
    async for stream in changes:
        seen = position.seen(stream.stream_id)
        events = [event for event in stream.events if event.metadata.version > seen]
        if not events:
            continue
        if events[0].metadata.version != seen + 1:
            try:
                events = await source.load(stream_type, stream.stream_id, from_version=seen + 1)
            except Exception as error:
                load_failed(bad_rows, source, error, stream_type=stream_type, stream_id=stream.stream_id)
                continue
        unseen = EventStream(stream_type, stream.stream_id, events)
        position.advance(unseen)
        yield unseen
    position.end_pass()
