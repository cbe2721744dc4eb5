"""Span helpers, one per kind of operation; each costs one provider check when tracing is off.

Store operations are client spans with the database conventions (`append Events`, `load Events`,
`read_type Events`), channel operations follow the messaging conventions (`send orders` as a producer
span, `receive orders` as a client span linking the messages, `process orders` as a consumer span
whose parent is the context the envelope carried), and the library's own steps are internal spans
(`repository.flush`, `outbox.relay`, `projection.restore`, `projection.catch_up`, `cache.replicate`).
A span is current while its operation awaits, so the Azure SDK's spans (with
`azure-core-tracing-opentelemetry`) and the application's own nest under it.

An async generator never holds a span current across `yield` (its consumer runs in between, and a
context attached in one step and detached in another breaks): `traced_streams` attaches its span
only around each step of the generator it wraps.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

from messagehandler.telemetry.attributes import (
    CLOUDEVENTS_EVENT_ID,
    CLOUDEVENTS_EVENT_TYPE,
    ERROR_TYPE,
    EVENT_COUNT,
    MESSAGING_BATCH_MESSAGE_COUNT,
    MESSAGING_DESTINATION_NAME,
    MESSAGING_MESSAGE_ID,
    MESSAGING_OPERATION_NAME,
    MESSAGING_OPERATION_TYPE,
    MESSAGING_SYSTEM,
    STREAM_COUNT,
)
from messagehandler.telemetry.metrics import Instruments, instruments
from messagehandler.telemetry.propagation import context_of, span_context_of
from messagehandler.telemetry.providers import AVAILABLE, tracer

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.trace import Link, Span, SpanKind, Tracer

    from messagehandler.telemetry.shapes import Endpoint, Envelope, S

if AVAILABLE:
    from opentelemetry import context as _context
    from opentelemetry import trace as _trace
    from opentelemetry.trace import Link, SpanKind

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])
Attributes = Mapping[str, str | int | float | bool]
DEFAULT_SYSTEM = "messagehandler"
"""`messaging.system` of a channel or receiver that does not name its own (`messaging_system`)."""

NO_SPAN: contextlib.nullcontext[None] = contextlib.nullcontext()


@contextlib.contextmanager
def current_span(
    tracer: Tracer,
    name: str,
    kind: SpanKind,
    attributes: Attributes,
    *,
    parent: Context | None = None,
    links: list[Link] | None = None,
) -> Iterator[Span]:
    """A span, current for the duration; a failure sets `error.type` (the exception is recorded too)."""
    with tracer.start_as_current_span(name, context=parent, kind=kind, attributes=attributes, links=links) as span:
        try:
            yield span
        except BaseException as error:
            if span.is_recording():
                span.set_attribute(ERROR_TYPE, _error_type(error))
            raise


def traced(name: str) -> Callable[[F], F]:
    """Decorate a coroutine function with an internal span `name`, current while it runs."""

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def call(*args: Any, **kwargs: Any) -> Any:
            found = tracer()
            if found is None:
                return func(*args, **kwargs)
            return _traced_call(found, name, func, args, kwargs)

        return cast(F, call)

    return decorate


async def _traced_call(found: Tracer, name: str, func: Callable[..., Any], args: Any, kwargs: Any) -> Any:
    with current_span(found, name, SpanKind.INTERNAL, {}):
        return await func(*args, **kwargs)


def messaging_system(endpoint: object) -> str:
    """The `messaging.system` a channel or receiver declares, e.g. `servicebus`."""
    return str(getattr(endpoint, "messaging_system", DEFAULT_SYSTEM))


def messaging_attributes(endpoint: Endpoint, operation: str, envelopes: Sequence[Envelope]) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        MESSAGING_SYSTEM: messaging_system(endpoint),
        MESSAGING_DESTINATION_NAME: endpoint.name,
        MESSAGING_OPERATION_TYPE: operation,
        MESSAGING_OPERATION_NAME: operation,
    }
    if len(envelopes) == 1:
        attributes[MESSAGING_MESSAGE_ID] = envelopes[0].id
        attributes[CLOUDEVENTS_EVENT_ID] = envelopes[0].id
        attributes[CLOUDEVENTS_EVENT_TYPE] = envelopes[0].type
    else:
        attributes[MESSAGING_BATCH_MESSAGE_COUNT] = len(envelopes)
    return attributes


def links_to(envelopes: Sequence[Envelope]) -> list[Link]:
    """Links to the contexts the envelopes carry (those without one are left out)."""
    links = []
    for envelope in envelopes:
        span_context = span_context_of(envelope.traceparent, envelope.tracestate)
        if span_context is not None:
            links.append(Link(span_context))
    return links


def parent_of(envelope: Envelope | None) -> Context:
    """The producer's context an envelope carries; without one a fresh root (never the host's own context)."""
    found = None if envelope is None else context_of(envelope.traceparent, envelope.tracestate)
    return found if found is not None else _context.Context()


async def traced_streams(
    streams: AsyncIterator[S],
    name: str,
    attributes: Attributes,
    *,
    kind: SpanKind | None = None,
    measure: Callable[[Instruments, int, float], None] | None = None,
) -> AsyncIterator[S]:
    """`streams` inside a span current only while the next stream is read; counts streams and events.

    `measure(instruments, events, seconds)` records metrics when the iteration ends (exhausted, failed
    or closed early). Wrap only when `enabled()`; otherwise hand `streams` on as they are.
    """
    found = tracer()
    span = None if found is None else found.start_span(name, kind=kind or SpanKind.INTERNAL, attributes=attributes)
    context = None if span is None else _trace.set_span_in_context(span)
    stream_count = event_count = 0
    started = time.perf_counter()
    try:
        while True:
            token = None if context is None else _context.attach(context)
            try:
                stream = await anext(streams)
            except StopAsyncIteration:
                break
            finally:
                if token is not None:
                    _context.detach(token)
            stream_count += 1
            event_count += len(stream.events)
            yield stream
    except BaseException as error:
        if span is not None and span.is_recording() and not isinstance(error, GeneratorExit):
            span.set_attribute(ERROR_TYPE, _error_type(error))
            span.record_exception(error)
            span.set_status(_trace.StatusCode.ERROR, str(error))
        raise
    finally:
        closing = getattr(streams, "aclose", None)
        if closing is not None:
            await closing()
        if span is not None:
            if span.is_recording():
                span.set_attributes({STREAM_COUNT: stream_count, EVENT_COUNT: event_count})
            span.end()
        if measure is not None and (found_instruments := instruments()) is not None:
            measure(found_instruments, event_count, time.perf_counter() - started)


def _error_type(error: BaseException) -> str:
    return type(error).__qualname__
