"""What the store knows about an event besides its payload.

A frozen, slotted dataclass rather than a pydantic model: it is created once per emitted event and
once per loaded event, always from trusted values, so validation would only cost time. Its
constructor writes the slots directly: a frozen dataclass's generated `__init__` goes through
`object.__setattr__` for every field, which doubled the cost of reading an event.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True, init=False)
class EventMetadata:
    """Identity and provenance of one stored event.

    `version` is the event's position in its stream, starting at 1. `causation_id` is the seed's
    `why`: the id of the message that caused this event. `schema_version` is the version of the
    event's payload shape as held in memory (after upcasting, the current one). `stored_at` is the
    store's own commit time (Table Storage's `Timestamp`), set on events read back from a store; it
    orders catch-up reads and takes no part in equality.
    """

    event_id: str
    event_type: str
    source_id: str
    source_type: str
    version: int
    when: datetime
    who: str | None = None
    causation_id: str | None = None
    correlation_id: str | None = None
    tenant_id: str | None = None
    schema_version: int = 1
    encryption_key_id: str | None = None
    stored_at: datetime | None = field(default=None, compare=False)

    def __init__(
        self,
        event_id: str,
        event_type: str,
        source_id: str,
        source_type: str,
        version: int,
        when: datetime,
        who: str | None = None,
        causation_id: str | None = None,
        correlation_id: str | None = None,
        tenant_id: str | None = None,
        schema_version: int = 1,
        encryption_key_id: str | None = None,
        stored_at: datetime | None = None,
    ) -> None:
        s = _SLOT_SETTERS
        s[0](self, event_id)
        s[1](self, event_type)
        s[2](self, source_id)
        s[3](self, source_type)
        s[4](self, version)
        s[5](self, when)
        s[6](self, who)
        s[7](self, causation_id)
        s[8](self, correlation_id)
        s[9](self, tenant_id)
        s[10](self, schema_version)
        s[11](self, encryption_key_id)
        s[12](self, stored_at)

    @property
    def stream(self) -> str:
        """`{source_type}/{source_id}`, the name used in error messages and logs."""
        return f"{self.source_type}/{self.source_id}"

    def with_schema_version(self, schema_version: int) -> EventMetadata:
        return replace(self, schema_version=schema_version)

    def with_stored_at(self, stored_at: datetime) -> EventMetadata:
        return replace(self, stored_at=stored_at)


_SLOT_SETTERS: tuple[Any, ...] = tuple(
    EventMetadata.__dict__[name].__set__ for name in EventMetadata.__dataclass_fields__
)
