"""The outbox relay: publishes what a crash or a failed channel left behind.

Run it beside the writers (one relay per store is enough; several are safe, they only duplicate
deliveries): at start-up, and then on a schedule. It reads each stream type's outbox entries, loads
the versions they name, publishes them in order with their original ids, and clears each entry
unless an append extended it meanwhile (then the writer of that append publishes the whole range).

It leaves alone entries written less than `min_age` ago: they may belong to a flush that is still
publishing them, and relaying them too would deliver every event twice (in a 12-minute soak, 264 of
281 duplicate deliveries came from a relay re-publishing in-flight flushes). An entry stranded by a
crash or a failed channel is relayed by the first pass after it is `min_age` old. The age is the
store's write time of the entry (Table Storage's `Timestamp`) against the store's time of the answer
that listed it (the response's `Date`, whole seconds, so an age reads up to a second short): one
clock, no skew. Where the outbox reports no answer time (the in-memory source) the relay's own clock
stands in, and `min_age` must then also cover the skew between the two clocks. An entry whose write
time the outbox does not report is relayed at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from messagehandler.channels.dispatcher import Dispatcher
from messagehandler.errors import ConfigurationError
from messagehandler.eventsource.outbox import Outbox, OutboxEntry
from messagehandler.eventsource.protocol import EventSource
from messagehandler.telemetry.logs import log_fields
from messagehandler.telemetry.outbox import Backlog, relaying
from messagehandler.telemetry.spans import traced

logger = logging.getLogger("messagehandler.relay")


DEFAULT_MIN_AGE = timedelta(seconds=10)
"""How old an outbox entry must be before the relay takes it for stranded.

It must cover the longest a flush takes from its commit until its entry is cleared: publishing to
every channel, including the channel SDKs' own retries and timeouts (a send that an SDK retries with
backoff can run longer than ten seconds), loading older unpublished versions first, and the deferred
clear's `CLEAR_DELAY`. A flush slower than `min_age` is not lost: a relay pass publishes its events a
second time (at least once). Raise it to the channels' retry budget where duplicates cost more than
the delay of relaying what a crash left.
"""


@dataclass
class RelayReport:
    entries: int = 0
    published: int = 0
    """Events handed to the channels, those of entries whose clear failed afterwards included."""
    cleared: int = 0
    failed: int = 0
    young: int = 0
    """Entries left alone because a flush may still be publishing them."""
    errors: list[Exception] = field(default_factory=list)
    """Why each failed entry failed, in the order met: typed errors of the store or the channels."""


class OutboxRelay:
    """Publishes outbox entries left behind, for the given stream types (default: the routed ones).

    `min_age` is how old an entry must be to be relayed (see the module; `DEFAULT_MIN_AGE` when not
    given); `clock` tells the time where the outbox does not report the store's (and stands in for
    this machine's clock in tests).
    """

    def __init__(
        self,
        source: EventSource,
        dispatcher: Dispatcher,
        stream_types: Iterable[str] | None = None,
        *,
        min_age: timedelta | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if not isinstance(source, Outbox) or not source.outbox_enabled:
            raise ConfigurationError("the outbox relay needs an event source with its outbox enabled")
        types = frozenset(stream_types) if stream_types is not None else dispatcher.stream_types
        if not types:
            raise ConfigurationError("name the stream types to relay: a route for every stream type gives no list")
        self._source = source
        self._outbox: Outbox = source
        self._dispatcher = dispatcher
        min_age = DEFAULT_MIN_AGE if min_age is None else min_age
        if not isinstance(min_age, timedelta) or min_age < timedelta(0):
            raise ConfigurationError(f"min_age must be a timedelta >= 0, got {min_age!r}")
        self.stream_types = sorted(types)
        self.min_age = min_age
        self._clock = clock

    @traced("outbox.relay_pass")
    async def run_once(self) -> RelayReport:
        """One pass over the outbox: publish and clear what is old enough to be stranded.

        Sets the backlog gauges per stream type to the entries it left pending, young ones included.
        """
        report = RelayReport()
        now = self._clock()
        for stream_type in self.stream_types:
            backlog = Backlog(stream_type)
            async for entry in self._outbox.pending(stream_type):
                report.entries += 1
                if self._young(entry, now):
                    report.young += 1
                    backlog.add(entry)
                    continue
                try:
                    with relaying(entry):
                        stored = await self._source.load(stream_type, entry.stream_id, from_version=entry.from_version)
                        events = [e for e in stored if e.metadata.version <= entry.to_version]
                        await self._dispatcher.publish(events)
                        report.published += len(events)
                        cleared = await self._outbox.clear(entry)
                except Exception as error:
                    report.failed += 1
                    report.errors.append(error)
                    backlog.add(entry)
                    logger.warning(
                        "relay could not publish %s v%d-%d: %s",
                        entry.stream,
                        entry.from_version,
                        entry.to_version,
                        error,
                        extra=log_fields(entry=entry),
                    )
                    continue
                report.cleared += cleared
                if not cleared:
                    backlog.add(entry)
            backlog.record()
        return report

    def _young(self, entry: OutboxEntry, now: datetime) -> bool:
        """Whether a flush may still be publishing the entry: its age on the store's clock, else on ours."""
        if entry.written_at is None:
            return False
        read_at = entry.read_at if entry.read_at is not None else now
        age = max(read_at - entry.written_at, timedelta(0))  # a `Date` of whole seconds may precede the write
        return age < self.min_age

    async def run(self, *, interval: float = 5.0, stop: asyncio.Event | None = None) -> None:
        """Relay until `stop` is set, pausing `interval` seconds between passes."""
        stop = stop if stop is not None else asyncio.Event()
        while not stop.is_set():
            try:
                await self.run_once()
            except Exception:
                logger.exception("outbox relay pass failed; retrying after %.1f s", interval)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
