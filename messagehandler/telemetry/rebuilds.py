"""Instrumentation of the long reads: projection restores and catch-ups, and cache replication.

Each wraps the stream feed it consumes, so its span (`projection.restore`, `projection.catch_up`,
`cache.replicate`) holds the store's read spans, counts the streams and events, and on completion
records the events, the duration and the throughput (events per second of that run).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from messagehandler.telemetry.attributes import OPERATION, READ_MODEL, RECORD_TYPE, STREAM_TYPE
from messagehandler.telemetry.providers import enabled
from messagehandler.telemetry.spans import traced_streams

if TYPE_CHECKING:
    from messagehandler.telemetry.metrics import Instruments
    from messagehandler.telemetry.shapes import S


def restoring(
    streams: AsyncIterator[S],
    operation: str,
    stream_type: str,
    record_type: type[Any],
    read_model: str | None = None,
) -> AsyncIterator[S]:
    """`streams` of a projection `operation` (`restore` or `catch_up`), traced and measured when telemetry is on."""
    if not enabled():
        return streams
    measured = {OPERATION: operation, STREAM_TYPE: stream_type}
    attributes: dict[str, str] = {**measured, RECORD_TYPE: record_type.__qualname__}
    if read_model is not None:
        attributes[READ_MODEL] = read_model

    def measure(instruments: Instruments, events: int, seconds: float) -> None:
        instruments.projection.record(events, seconds, measured)

    return traced_streams(streams, f"projection.{operation}", attributes, measure=measure)


def replicating(streams: AsyncIterator[S], stream_type: str) -> AsyncIterator[S]:
    """`streams` replicated into the cache, traced and measured when telemetry is on."""
    if not enabled():
        return streams
    attributes = {STREAM_TYPE: stream_type}

    def measure(instruments: Instruments, events: int, seconds: float) -> None:
        instruments.cache.record(events, seconds, attributes)

    return traced_streams(streams, "cache.replicate", attributes, measure=measure)
