"""Instrumentation of event sources: a decorator per operation of the `EventSource` protocol.

A source opts in by decorating its own `append`, `load` and `read_changes` and by describing itself in
`telemetry_attributes` (system, account, table, server): the decorators read that mapping only when a
span is made. Sources that delegate to another source (`ObservedSource`) stay undecorated, so one
operation is one span. With tracing and metrics off each decorator is one check and a direct call:
no coroutine or generator of its own.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast
from urllib.parse import urlsplit

from messagehandler.errors import ConcurrencyError
from messagehandler.telemetry.attributes import (
    DB_COLLECTION_NAME,
    DB_NAMESPACE,
    DB_OPERATION_BATCH_SIZE,
    DB_OPERATION_NAME,
    DB_SYSTEM_NAME,
    SERVER_ADDRESS,
    SERVER_PORT,
    STREAM_ID,
    STREAM_TYPE,
    STREAM_VERSION,
)
from messagehandler.telemetry.metrics import instruments
from messagehandler.telemetry.providers import AVAILABLE, enabled, tracer
from messagehandler.telemetry.spans import current_span, traced_streams

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer

    from messagehandler.telemetry.shapes import Recorded, Stream

if AVAILABLE:
    from opentelemetry.trace import SpanKind

F = TypeVar("F", bound=Callable[..., Any])


def store_attributes(
    system: str, *, namespace: str | None = None, collection: str | None = None, url: str | None = None
) -> dict[str, Any]:
    """What `telemetry_attributes` of a source returns: `db.system.name`, account, table, server and port."""
    attributes: dict[str, Any] = {DB_SYSTEM_NAME: system}
    if namespace:
        attributes[DB_NAMESPACE] = namespace
    if collection:
        attributes[DB_COLLECTION_NAME] = collection
    if url:
        parts = urlsplit(url)
        if parts.hostname:
            attributes[SERVER_ADDRESS] = parts.hostname
            attributes[SERVER_PORT] = parts.port or (443 if parts.scheme == "https" else 80)
    return attributes


def _span_name(operation: str, described: dict[str, Any]) -> str:
    collection = described.get(DB_COLLECTION_NAME)
    return f"{operation} {collection}" if collection else operation


def _described(source: object, operation: str, stream_type: str, extra: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    described: dict[str, Any] = dict(getattr(source, "telemetry_attributes", {}))
    name = _span_name(operation, described)
    described[DB_OPERATION_NAME] = operation
    described[STREAM_TYPE] = stream_type
    described.update(extra)
    return name, described


def traced_append(func: F) -> F:
    """Span `append {table}`; metrics `messagehandler.appends`, `.append.events` and `.append.conflicts`."""

    @functools.wraps(func)
    def append(
        self: Any, stream_type: str, stream_id: str, expected_version: int, events: Sequence[Recorded], **options: Any
    ) -> Awaitable[object]:
        if not events or not enabled():
            return cast("Awaitable[object]", func(self, stream_type, stream_id, expected_version, events, **options))
        return _append(func, self, stream_type, stream_id, expected_version, events, options)

    return cast(F, append)


async def _append(
    func: Callable[..., Awaitable[object]],
    source: object,
    stream_type: str,
    stream_id: str,
    expected_version: int,
    events: Sequence[Recorded],
    options: dict[str, Any],
) -> object:
    found, measures = tracer(), instruments()
    metric_attributes = {STREAM_TYPE: stream_type}
    try:
        if found is None:
            result = await func(source, stream_type, stream_id, expected_version, events, **options)
        else:
            extra = {STREAM_ID: stream_id, STREAM_VERSION: expected_version, DB_OPERATION_BATCH_SIZE: len(events)}
            name, attributes = _described(source, "append", stream_type, extra)
            with current_span(found, name, SpanKind.CLIENT, attributes):
                result = await func(source, stream_type, stream_id, expected_version, events, **options)
    except ConcurrencyError:
        if measures is not None:
            measures.conflicts.add(1, metric_attributes)
        raise
    if measures is not None:
        measures.appends.add(1, metric_attributes)
        measures.append_events.record(len(events), metric_attributes)
    return result


def traced_load(func: F) -> F:
    """Span `load {table}` around loading one stream."""

    @functools.wraps(func)
    def load(self: Any, stream_type: str, stream_id: str, **options: Any) -> Awaitable[list[Any]]:
        found = tracer()
        if found is None:
            return cast("Awaitable[list[Any]]", func(self, stream_type, stream_id, **options))
        return _load(func, found, self, stream_type, stream_id, options)

    return cast(F, load)


async def _load(
    func: Callable[..., Awaitable[list[Any]]],
    found: Tracer,
    source: Any,
    stream_type: str,
    stream_id: str,
    options: dict[str, Any],
) -> list[Any]:
    name, attributes = _described(source, "load", stream_type, {STREAM_ID: stream_id})
    with current_span(found, name, SpanKind.CLIENT, attributes) as span:
        events = await func(source, stream_type, stream_id, **options)
        if span.is_recording() and events:
            span.set_attribute(STREAM_VERSION, events[-1].metadata.version)
        return events


def traced_read(func: F) -> F:
    """Span `read_type {table}` (or `read_changes` with `since`) over reading the streams of a type."""

    @functools.wraps(func)
    def read_changes(
        self: Any, stream_type: str, since: datetime | None = None, **options: Any
    ) -> AsyncIterator[Stream]:
        streams = cast("AsyncIterator[Stream]", func(self, stream_type, since, **options))
        if tracer() is None:
            return streams
        name, attributes = _described(self, "read_type" if since is None else "read_changes", stream_type, {})
        return traced_streams(streams, name, attributes, kind=SpanKind.CLIENT)

    return cast(F, read_changes)
