"""Checks every event source makes before an append, so they all refuse the same bad input.

These hold whatever the store's limits: events stamped for the stream in order, keys a store can hold,
and metadata text a store can encode. Size limits are separate (`messagehandler.eventsource.limits`).
"""

from __future__ import annotations

from collections.abc import Sequence

from messagehandler.errors import StreamIntegrityError, UnstorableEventError
from messagehandler.events.event import Event
from messagehandler.events.metadata import EventMetadata
from messagehandler.eventsource.keys import validate_stream


def check_append(stream_type: str, stream_id: str, expected_version: int, events: Sequence[Event]) -> None:
    """Raise unless `events` are stamped for this stream with versions expected_version + 1, + 2, ..."""
    validate_stream(stream_type, stream_id)
    stream = f"{stream_type}/{stream_id}"
    if isinstance(expected_version, bool) or not isinstance(expected_version, int) or expected_version < 0:
        raise StreamIntegrityError(
            f"expected version of stream {stream!r} must be an int >= 0, got {expected_version!r}", stream
        )
    version = expected_version
    for event in events:
        if not event.has_metadata:
            raise StreamIntegrityError(
                f"{type(event).__qualname__} appended to stream {stream!r} has no metadata: emit it from an aggregate",
                stream,
            )
        meta = event.metadata
        version += 1
        if meta.source_type != stream_type or meta.source_id != stream_id:
            raise StreamIntegrityError(
                f"event {meta.event_type!r} version {meta.version} belongs to stream {meta.stream!r}, not {stream!r}",
                stream,
                meta.version,
            )
        if meta.version != version:
            raise StreamIntegrityError(
                f"event {meta.event_type!r} on stream {stream!r} has version {meta.version}, expected {version}",
                stream,
                meta.version,
            )
        _check_text(meta, stream)


_TEXT_COLUMNS = ("event_id", "event_type", "who", "causation_id", "correlation_id", "tenant_id", "encryption_key_id")


def _check_text(meta: EventMetadata, stream: str) -> None:
    """Metadata that no store could encode (a lone surrogate) is refused, naming the field."""
    texts = (
        meta.event_id,
        meta.event_type,
        meta.who,
        meta.causation_id,
        meta.correlation_id,
        meta.tenant_id,
        meta.encryption_key_id,
    )
    try:
        if "".join([text for text in texts if text is not None]).isascii():
            return
    except TypeError:  # a value that is not a string: named below
        pass
    for name, value in zip(_TEXT_COLUMNS, texts, strict=True):
        if value is None or (type(value) is str and value.isascii()):
            continue
        if not isinstance(value, str):
            problem = f"is a {type(value).__name__}, not a string"
        else:
            try:
                value.encode("utf-8")
                continue
            except UnicodeEncodeError as error:
                problem = (
                    f"holds a lone surrogate {value[error.start]!r} at position {error.start}, "
                    "which no store can encode"
                )
        raise UnstorableEventError(
            meta.event_type, problem, field=f"metadata.{name}", stream=stream, version=meta.version
        )
