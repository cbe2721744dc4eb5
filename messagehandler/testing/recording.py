"""Helpers for tests of domain code and read models: build stored-looking events in one line."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from messagehandler.events.event import Event
from messagehandler.events.metadata import EventMetadata


def recorded(
    stream_type: str,
    stream_id: str,
    events: Iterable[Event],
    *,
    start_version: int = 1,
    when: datetime | None = None,
    who: str | None = None,
    correlation_id: str | None = None,
    causation_id: str | None = None,
    tenant_id: str | None = None,
) -> list[Event]:
    """Stamp `events` as versions start_version, start_version + 1, ... of one stream, as a store would.

    Times are one millisecond apart from `when` (default: now), so ordering by time is stable.
    """
    start = when if when is not None else datetime.now(UTC)
    stamped: list[Event] = []
    for offset, event in enumerate(events):
        event._stamp(
            EventMetadata(
                event_id=str(uuid.uuid4()),
                event_type=type(event).__event_type__,
                source_id=stream_id,
                source_type=stream_type,
                version=start_version + offset,
                when=start + timedelta(milliseconds=offset),
                who=who,
                causation_id=causation_id,
                correlation_id=correlation_id,
                tenant_id=tenant_id,
                schema_version=type(event).__schema_version__,
            )
        )
        stamped.append(event)
    return stamped
