"""`RawEvent`: one cached event exactly as stored, deserialised only when asked.

A named tuple because readers build millions of them: a tuple is the cheapest object Python makes,
and the MessagePack row maps onto it field by field. Times are kept as integer microseconds since
the Unix epoch (UTC) and turned into datetimes only on access. The commit time is shared by every
event of a transaction, and they are read one after another, so the last conversion is remembered
(`commit_moment`): a least-recently-used cache would cost more than it saves on stores that commit
one event per transaction.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, TypeVar, overload

from pydantic import BaseModel, ValidationError

from messagehandler.errors import SerializationError, UpcastError
from messagehandler.events.event import Event
from messagehandler.events.metadata import EventMetadata, stored_metadata
from messagehandler.events.registry import EventTypeRegistry
from messagehandler.events.serialization import JsonEventSerializer, decode_current

M = TypeVar("M", bound=BaseModel)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EXACT = 4_000_000_000 * 1_000_000  # the year 2096, in microseconds: float timestamps stay exact well below it


def to_micros(moment: datetime) -> int:
    delta = moment - _EPOCH if moment.tzinfo is not None else moment.replace(tzinfo=UTC) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(micros: int) -> datetime:
    """Exact: below `_EXACT` the float quotient is within far less than half a microsecond of the true value.

    Around 2**33 seconds (the year 2242) a double's spacing nears a microsecond and the float path
    starts to round wrongly; later moments take the exact timedelta path.
    """
    if 0 <= micros < _EXACT:
        return datetime.fromtimestamp(micros / 1_000_000, UTC)
    return _EPOCH + timedelta(microseconds=micros)


def commit_moment(micros: int) -> datetime:
    """`from_micros` for commit times, remembering the last one: a transaction's events share it and are read in a row."""
    last = _last_commit[0]
    if last[0] == micros:
        return last[1]
    moment = from_micros(micros)
    _last_commit[0] = (micros, moment)
    return moment


_last_commit: list[tuple[int, datetime]] = [(-1, _EPOCH)]
"""One slot holding an immutable pair, replaced whole, so concurrent readers never see a torn one."""


Row = tuple[Any, ...]
"""A cached event as its page decodes: the fields of `RawEvent`, in its order, in a plain tuple."""


def row_metadata(row: Row) -> EventMetadata:
    """The metadata of a cached row, as a store's load builds it; readers call this once per event."""
    (_, stream_type, stream_id, version, event_type, schema_version, event_id, when_us, stored_at_us, who,
     causation_id, correlation_id, tenant_id, encryption_key_id, _) = row  # fmt: skip
    last = _last_commit[0]
    stored_at = last[1] if stored_at_us == last[0] else None if stored_at_us is None else commit_moment(stored_at_us)
    return stored_metadata(
        event_id,
        event_type,
        stream_id,
        stream_type,
        version,
        datetime.fromtimestamp(when_us / 1_000_000, UTC) if 0 <= when_us < _EXACT else from_micros(when_us),
        who,
        causation_id,
        correlation_id,
        tenant_id,
        schema_version,
        encryption_key_id,
        stored_at,
    )


class RawEvent(NamedTuple):
    """A stored event: its metadata fields and its body, the store's JSON text unchanged."""

    seq: int
    stream_type: str
    stream_id: str
    version: int
    event_type: str
    schema_version: int
    event_id: str
    when_us: int
    stored_at_us: int | None
    who: str | None
    causation_id: str | None
    correlation_id: str | None
    tenant_id: str | None
    encryption_key_id: str | None
    body: str

    @property
    def when(self) -> datetime:
        return from_micros(self.when_us)

    @property
    def stored_at(self) -> datetime | None:
        return None if self.stored_at_us is None else commit_moment(self.stored_at_us)

    @property
    def stream(self) -> str:
        return f"{self.stream_type}/{self.stream_id}"

    @property
    def metadata(self) -> EventMetadata:
        return row_metadata(self)

    @overload
    def content(self, into: EventTypeRegistry) -> Event: ...

    @overload
    def content(self, into: type[M]) -> M: ...

    def content(self, into: EventTypeRegistry | type[BaseModel]) -> BaseModel:
        """The body as a model of the caller's choice, or as the event class a registry maps its type to.

        With a registry (or an `Event` subclass) the event is built exactly as an event source builds
        it: old schema versions are upcast and the metadata is stamped. Any other pydantic model just
        validates the body, which lets a consumer read only the fields it needs.
        """
        if isinstance(into, EventTypeRegistry):
            metadata = row_metadata(self)
            event = decode_current(into, self.body, metadata)
            return event if event is not None else JsonEventSerializer(into).deserialize(self.body, metadata)
        if issubclass(into, Event):
            return self._as_event(into)
        try:
            return into.model_validate_json(self.body)
        except ValidationError as error:
            raise SerializationError(
                f"event {self.event_type!r} ({self.stream}, version {self.version}) does not fit "
                f"{into.__qualname__}: {error}"
            ) from error

    def _as_event(self, cls: type[Event]) -> Event:
        if cls.__event_type__ != self.event_type:
            raise SerializationError(
                f"event at {self.stream} version {self.version} is a {self.event_type!r}, not a "
                f"{cls.__event_type__!r} ({cls.__qualname__})"
            )
        if self.schema_version != cls.__schema_version__:
            raise UpcastError(
                f"event {self.event_type!r} ({self.stream}, version {self.version}) has schema version "
                f"{self.schema_version}, {cls.__qualname__} has {cls.__schema_version__}: pass an "
                "EventTypeRegistry holding the upcasters instead of the class"
            )
        registry = EventTypeRegistry([cls])
        return JsonEventSerializer(registry).deserialize(self.body, self.metadata)

    def to_json_line(self) -> str:
        """One JSON object: the metadata fields, with the body embedded as the JSON it already is."""
        stored_at = self.stored_at
        head: dict[str, Any] = {
            "seq": self.seq or None,
            "stream_type": self.stream_type,
            "stream_id": self.stream_id,
            "version": self.version,
            "event_type": self.event_type,
            "schema_version": self.schema_version,
            "event_id": self.event_id,
            "when": self.when.isoformat(),
            "stored_at": stored_at.isoformat() if stored_at is not None else None,
            "who": self.who,
            "causation_id": self.causation_id,
            "correlation_id": self.correlation_id,
            "tenant_id": self.tenant_id,
            "encryption_key_id": self.encryption_key_id,
        }
        return json.dumps(head, ensure_ascii=False)[:-1] + ', "body": ' + self.body + "}"


VERSION, STORED_AT_US, BODY = (RawEvent._fields.index(name) for name in ("version", "stored_at_us", "body"))
"""Positions in a `Row` that the cache source reads on every row."""


def raw_from_event(seq: int, event: Event, body: str) -> RawEvent:
    meta = event.metadata
    stored_at = meta.stored_at
    return RawEvent(
        seq,
        meta.source_type,
        meta.source_id,
        meta.version,
        meta.event_type,
        meta.schema_version,
        meta.event_id,
        to_micros(meta.when),
        None if stored_at is None else to_micros(stored_at),
        meta.who,
        meta.causation_id,
        meta.correlation_id,
        meta.tenant_id,
        meta.encryption_key_id,
        body,
    )
