"""The dispatcher: after a commit, publish the committed events to their channels, then clear the outbox.

Configured in code:

    dispatcher = (
        Dispatcher()
        .add_channel(ServiceBusChannel.from_connection_string(conn, topic_name="mytopic"))
        .route("Organization").to("mytopic")
        .route(events=[OrganizationRenamed]).to("audit")
    )

Publishing happens only after the append returned, so nothing is published before it is committed.
With an outbox, the entry is cleared only after every channel accepted every event; a failure leaves
it for the relay, which publishes the same events with the same ids: delivery is at least once, and
consumers deduplicate on the CloudEvent id.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from messagehandler.azure_errors import RedactedCauseError
from messagehandler.channels.envelope import CloudEvent
from messagehandler.channels.errors import ChannelError, UnknownChannelError
from messagehandler.channels.protocol import Channel
from messagehandler.channels.routing import Route, event_type_names
from messagehandler.errors import MessageHandlerError
from messagehandler.events.event import Event
from messagehandler.events.preparing import prepare_to_write
from messagehandler.events.serialization import EventSerializer, JsonEventSerializer
from messagehandler.eventsource.outbox import DeferredClearing, Outbox, OutboxEntry
from messagehandler.eventsource.protocol import EventSource
from messagehandler.redaction import describe_error
from messagehandler.telemetry.logs import log_fields
from messagehandler.telemetry.messaging import sending
from messagehandler.telemetry.propagation import current_trace
from messagehandler.telemetry.spans import traced

logger = logging.getLogger("messagehandler.dispatch")


class RouteBuilder:
    """The half-built route returned by `Dispatcher.route`; `.to(channel)` finishes it."""

    def __init__(self, dispatcher: Dispatcher, stream_types: frozenset[str], event_types: frozenset[str]) -> None:
        self._dispatcher = dispatcher
        self._stream_types = stream_types
        self._event_types = event_types

    def to(self, *channels: str) -> Dispatcher:
        for channel in channels:
            self._dispatcher.routes.append(Route(channel, self._stream_types, self._event_types))
        return self._dispatcher


class Dispatcher:
    """Routes committed events to channels and keeps the outbox honest."""

    def __init__(self, *, serializer: EventSerializer | None = None, source_uri: str | None = None) -> None:
        self.channels: dict[str, Channel] = {}
        self.routes: list[Route] = []
        self._serializer: EventSerializer = serializer if serializer is not None else JsonEventSerializer()
        self._source_uri = source_uri

    def add_channel(self, channel: Channel) -> Dispatcher:
        if channel.name in self.channels:
            raise ValueError(f"a channel named {channel.name!r} is already configured")
        self.channels[channel.name] = channel
        return self

    def route(self, *stream_types: str, events: Iterable[type[Event] | str] = ()) -> RouteBuilder:
        """Start a route for these stream types (all when none) and event types (all when none)."""
        return RouteBuilder(self, frozenset(stream_types), event_type_names(events))

    @property
    def stream_types(self) -> frozenset[str] | None:
        """The stream types any route names; None when some route takes every stream type."""
        names: set[str] = set()
        for route in self.routes:
            if not route.stream_types:
                return None
            names |= route.stream_types
        return frozenset(names)

    def validate(self) -> None:
        """Raise `UnknownChannelError` for a route to a channel that is not configured."""
        for route in self.routes:
            if route.channel not in self.channels:
                raise UnknownChannelError(
                    f"route {route.describe()} names channel {route.channel!r}, which is not configured "
                    f"(configured: {', '.join(sorted(self.channels)) or 'none'})"
                )

    def plan(self, events: Sequence[Event]) -> dict[str, list[CloudEvent]]:
        """Envelopes per channel, in commit order; raises before anything is sent.

        Each envelope carries the trace context current here (the `dispatcher.publish` span when tracing).
        """
        self.validate()
        trace = current_trace()
        plan: dict[str, list[CloudEvent]] = {}
        for event in events:
            meta = event.metadata
            targets = {route.channel for route in self.routes if route.matches(meta.source_type, meta.event_type)}
            if not targets:
                continue
            envelope = CloudEvent.from_event(event, self._serializer, source=self._source_uri, trace=trace)
            for target in targets:
                plan.setdefault(target, []).append(envelope)
        return plan

    @traced("dispatcher.publish")
    async def publish(self, events: Sequence[Event]) -> None:
        """Publish to every routed channel; channels run concurrently, order is kept within each.

        Events with personal data are published as stored, sealed: give the dispatcher the event
        source's `PersonalDataSerializer`; any other serializer refuses them (nothing is published).

        Raises:
            UnknownChannelError: a route names a channel that is not configured; nothing was sent.
            UnprotectedPersonalDataError: a routed event holds personal data and the serializer cannot
                seal it; nothing was sent.
            ChannelError: a channel failed (its own typed error, or one naming it that wraps a foreign
                exception with its secrets masked); the other failures are notes on it.
        """
        routes = self.routes
        routed = [e for e in events if any(r.matches(e.metadata.source_type, e.metadata.event_type) for r in routes)]
        await prepare_to_write(self._serializer, routed)
        plan = self.plan(routed)
        if not plan:
            return
        results = await asyncio.gather(
            *(sending(self.channels[name], envelopes) for name, envelopes in plan.items()), return_exceptions=True
        )
        failures = [(name, r) for name, r in zip(plan, results, strict=True) if isinstance(r, BaseException)]
        if failures:
            raise _first_failure("publishing to", failures)

    async def dispatch(self, source: EventSource, entry: OutboxEntry | None, events: Sequence[Event]) -> bool:
        """Publish a fresh commit and clear its outbox entry; False (logged) when publishing failed.

        Never raises: the events are committed, and an error here would invite the caller to run the
        command again. What was not published stays in the outbox for the relay. The clear does not
        hold up the flush when the outbox can clear later (`DeferredClearing`): the entry is handed
        over once published and deleted in a batch afterwards, or folded into the stream's next append.
        A clear that fails is logged and the result stays True: the events were published, and the
        entry left behind is the relay's to publish again.

        When the entry starts before these events (older ones were never published), those are
        loaded and published first, so each stream's events go out in version order.
        """
        stream = entry.stream if entry is not None else (events[0].metadata.stream if events else "?")
        fields = log_fields(event=events[0]) if events else log_fields(stream=stream)
        try:
            to_publish = list(events)
            if entry is not None and events and entry.from_version < events[0].metadata.version:
                older = await source.load(entry.stream_type, entry.stream_id, from_version=entry.from_version)
                to_publish = [e for e in older if e.metadata.version < events[0].metadata.version] + to_publish
            await self.publish(to_publish)
        except ChannelError as error:
            logger.warning("publishing %s failed; left in the outbox for the relay: %s", stream, error, extra=fields)
            return False
        except Exception:
            logger.exception(
                "publishing %s failed after its commit; left in the outbox for the relay", stream, extra=fields
            )
            return False
        if entry is not None:
            await _clear(source, entry, fields)
        return True

    async def close(self) -> None:
        """Close every channel, even when one of them fails to close; then raise the first failure.

        Raises:
            ChannelError: a channel failed to close (its own error when it is a `ChannelError`, else one
                naming the channel, with the original chained and its secrets masked); the others name
                theirs in notes.
        """
        results = await asyncio.gather(*(channel.close() for channel in self.channels.values()), return_exceptions=True)
        failures = [(name, r) for name, r in zip(self.channels, results, strict=True) if isinstance(r, BaseException)]
        if failures:
            raise _first_failure("closing", failures)


async def _clear(source: EventSource, entry: OutboxEntry, fields: dict[str, Any]) -> None:
    """Clear a published entry, later when the source can; a failure leaves it for the relay and is logged."""
    try:
        if isinstance(source, DeferredClearing):
            source.clear_later(entry)
        elif isinstance(source, Outbox):
            await source.clear(entry)
    except Exception as error:
        logger.warning(
            "published %s, but its outbox entry could not be cleared; the relay will publish it again: %s",
            entry.stream,
            describe_error(error),
            extra=fields,
            exc_info=not isinstance(error, MessageHandlerError),
        )


def _first_failure(doing: str, failures: list[tuple[str, BaseException]]) -> BaseException:
    """The first failure as a channel error (a foreign exception is wrapped, redacted); the rest as notes."""
    name, first = failures[0]
    if isinstance(first, MessageHandlerError) or not isinstance(first, Exception):
        error: BaseException = first
    else:
        error = ChannelError(f"{doing} channel {name!r} failed: {describe_error(first)}")
        error.__cause__ = RedactedCauseError(first)
    for other_name, other in failures[1:]:
        error.add_note(f"{doing} channel {other_name!r} also failed: {describe_error(other)}")
    return error
