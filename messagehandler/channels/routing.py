"""Which committed events go to which channel: routes by stream type and/or event type."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from messagehandler.events.event import Event


@dataclass(frozen=True, slots=True)
class Route:
    """Events matching `stream_types` (any when empty) and `event_types` (any when empty) go to `channel`."""

    channel: str
    stream_types: frozenset[str] = frozenset()
    event_types: frozenset[str] = frozenset()

    def matches(self, stream_type: str, event_type: str) -> bool:
        return (not self.stream_types or stream_type in self.stream_types) and (
            not self.event_types or event_type in self.event_types
        )

    def describe(self) -> str:
        streams = ", ".join(sorted(self.stream_types)) or "any stream"
        events = ", ".join(sorted(self.event_types)) or "any event"
        return f"{streams} / {events} -> {self.channel}"


def event_type_names(events: Iterable[type[Event] | str]) -> frozenset[str]:
    return frozenset(e if isinstance(e, str) else e.__event_type__ for e in events)
