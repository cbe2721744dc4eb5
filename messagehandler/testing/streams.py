"""Events and streams of the contract suites: their own event types, so no application's are needed.

The type names are namespaced (`messagehandler.testing.*`) so they never collide with an application's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from messagehandler.events.event import Event
from messagehandler.eventsource.protocol import EventSource
from messagehandler.testing.recording import recorded

STREAM_TYPE = "Contract"
"""The stream type the contract suites write to."""


class Opened(Event, type_name="messagehandler.testing.Opened"):
    name: str
    country: str | None = None


class Renamed(Event, type_name="messagehandler.testing.Renamed"):
    name: str


CONTRACT_EVENTS: tuple[type[Event], ...] = (Opened, Renamed)


def history(
    stream_id: str,
    count: int,
    *,
    start_version: int = 1,
    stream_type: str = STREAM_TYPE,
    opened: Callable[..., Event] = Opened,
    renamed: Callable[..., Event] = Renamed,
) -> list[Event]:
    """`count` stamped events of one stream from `start_version`: `opened(name=, country=)` at version 1,
    then `renamed(name=)`. Pass an application's own pair of classes to fill a store with its events."""
    events: list[Event] = []
    if start_version == 1 and count:
        events.append(opened(name=f"{stream_id} 1", country="BE"))
    while len(events) < count:
        events.append(renamed(name=f"{stream_id} {start_version + len(events)}"))
    return recorded(stream_type, stream_id, events, start_version=start_version)


async def strictly_later_commit(
    source: EventSource,
    after: datetime,
    *,
    deadline_seconds: float = 10,
    make_history: Callable[..., list[Event]] = history,
) -> datetime:
    """Write marker events (made by `make_history`) until the store's clock has moved past `after`;
    return the first later commit time.

    Store clocks may have coarse resolution, so this polls with a deadline instead of sleeping blindly.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + deadline_seconds
    version = 0
    while True:
        await source.append(
            "Marker", "m", version, make_history("m", 1, start_version=version + 1, stream_type="Marker")
        )
        version += 1
        (marker,) = await source.load("Marker", "m", from_version=version)
        stored_at = marker.metadata.stored_at
        assert stored_at is not None
        if stored_at > after:
            return stored_at
        assert loop.time() < deadline, "the store's clock did not advance"
