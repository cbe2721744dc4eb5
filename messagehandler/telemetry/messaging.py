"""Instrumentation of channels and processing: send, receive, process, dead-letter, consumer lag.

`sending` wraps one channel's publish in a producer span; the envelopes themselves carry the context
they were planned in (see `messagehandler.channels.dispatcher`). `record_receive` records a receive span
after the fact (a poll that returns nothing leaves no span), linking every message's context.
`acting` runs a standing query's action inside a consumer span whose parent is the context the first
source message carried, so the action continues the producer's trace; the others are linked. The
consumer lag is measured there, when the action runs: from the event's time (`CloudEvent.time`, set
when the event was emitted, just before its commit) to now.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from messagehandler.telemetry.attributes import (
    DEAD_LETTER_REASON,
    MESSAGING_DESTINATION_NAME,
    MESSAGING_SYSTEM,
    QUERY_NAME,
)
from messagehandler.telemetry.metrics import instruments
from messagehandler.telemetry.providers import AVAILABLE, enabled, tracer
from messagehandler.telemetry.spans import current_span, links_to, messaging_attributes, messaging_system, parent_of

if TYPE_CHECKING:
    from messagehandler.telemetry.shapes import Delivery, E, Endpoint, OutcomeT, Publisher

if AVAILABLE:
    from opentelemetry.trace import SpanKind

T = TypeVar("T")


def sending(channel: Publisher[E], envelopes: Sequence[E]) -> Awaitable[None]:
    """`channel.publish(envelopes)`, inside a span `send {channel}` when tracing is on."""
    if not enabled():
        return channel.publish(envelopes)
    return _send(channel, envelopes)


async def _send(channel: Publisher[E], envelopes: Sequence[E]) -> None:
    found = tracer()
    if found is None:
        await channel.publish(envelopes)
    else:
        attributes = messaging_attributes(channel, "send", list(envelopes))
        with current_span(found, f"send {channel.name}", SpanKind.PRODUCER, attributes):
            await channel.publish(envelopes)
    if (measures := instruments()) is not None:
        measures.sent.add(len(envelopes), _destination(channel))


def record_receive(receiver: Endpoint, batch: Sequence[Delivery], started_ns: int) -> None:
    """Record a receive of `batch` that began at `started_ns` (`time.time_ns()`); nothing for an empty one."""
    if not batch:
        return
    found = tracer()
    if found is not None:
        envelopes = [message.envelope for message in batch]
        span = found.start_span(
            f"receive {receiver.name}",
            context=parent_of(None),
            kind=SpanKind.CLIENT,
            attributes=messaging_attributes(receiver, "receive", envelopes),
            links=links_to(envelopes),
            start_time=started_ns,
        )
        span.end()
    if (measures := instruments()) is not None:
        measures.consumed.add(len(batch), _destination(receiver))


def acting(
    receiver: Endpoint, query: str, action: Callable[[OutcomeT], Awaitable[None]], outcome: OutcomeT
) -> Awaitable[None]:
    """`action(outcome)`, as a span `process {channel}` continuing the trace of its first source message."""
    if not enabled():
        return action(outcome)
    return _act(receiver, query, action, outcome)


async def _act(
    receiver: Endpoint, query: str, action: Callable[[OutcomeT], Awaitable[None]], outcome: OutcomeT
) -> None:
    found = tracer()
    envelopes = [context.envelope for context in outcome.contexts]
    started = time.perf_counter()
    if found is None:
        await action(outcome)
    else:
        attributes = messaging_attributes(receiver, "process", envelopes)
        attributes[QUERY_NAME] = query
        parent = parent_of(envelopes[0] if envelopes else None)
        links = links_to(envelopes[1:])
        with current_span(found, f"process {receiver.name}", SpanKind.CONSUMER, attributes, parent=parent, links=links):
            await action(outcome)
    if (measures := instruments()) is not None:
        attributes = {**_destination(receiver), QUERY_NAME: query}
        measures.process_duration.record(time.perf_counter() - started, attributes)
        now = datetime.now(UTC)
        for envelope in envelopes:
            measures.lag.record(max(0.0, (now - envelope.time).total_seconds()), attributes)


def dead_lettered(endpoint: Endpoint, reason: str, count: int = 1) -> None:
    """Count messages set aside for good; `reason` is a short, low-cardinality word (`failed`, `undecodable`)."""
    if (measures := instruments()) is not None:
        measures.dead_lettered.add(count, {**_destination(endpoint), DEAD_LETTER_REASON: reason})


def _destination(endpoint: Endpoint) -> dict[str, Any]:
    return {MESSAGING_SYSTEM: messaging_system(endpoint), MESSAGING_DESTINATION_NAME: endpoint.name}
