"""What instrumentation reads from the library's objects, declared here so telemetry imports none of them.

The parts import telemetry, so telemetry may not import them back (not even for type checking): each
Protocol names the few attributes a helper reads, and `CloudEvent`, `EventStream`, `OutboxEntry`,
channels and receivers satisfy them as they are (a test checks each against the real class).
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence, Sized
from datetime import datetime
from typing import Protocol, TypeVar, runtime_checkable


@runtime_checkable
class Envelope(Protocol):
    """A CloudEvent as channels carry it (`messagehandler.channels.envelope.CloudEvent`)."""

    @property
    def id(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def subject(self) -> str: ...
    @property
    def time(self) -> datetime: ...
    @property
    def stream_version(self) -> int: ...
    @property
    def traceparent(self) -> str | None: ...
    @property
    def tracestate(self) -> str | None: ...


E = TypeVar("E", bound=Envelope)
E_contra = TypeVar("E_contra", bound=Envelope, contravariant=True)


@runtime_checkable
class Endpoint(Protocol):
    """A channel or a receiver; `messaging_system` (a class attribute) is optional."""

    @property
    def name(self) -> str: ...


@runtime_checkable
class Publisher(Endpoint, Protocol[E_contra]):
    def publish(self, envelopes: Sequence[E_contra]) -> Awaitable[None]: ...


@runtime_checkable
class Delivery(Protocol):
    """A received message (`messagehandler.channels.protocol.ReceivedMessage`)."""

    @property
    def envelope(self) -> Envelope: ...


@runtime_checkable
class Outcome(Protocol):
    """What an action acts on (`messagehandler.processing.context.ActionableContext`)."""

    @property
    def contexts(self) -> Sequence[Delivery]: ...


OutcomeT = TypeVar("OutcomeT", bound=Outcome)


@runtime_checkable
class Stream(Protocol):
    """A stream read in bulk (`messagehandler.eventsource.protocol.EventStream`)."""

    @property
    def events(self) -> Sized: ...


S = TypeVar("S", bound=Stream)


@runtime_checkable
class Metadata(Protocol):
    @property
    def stream(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def event_id(self) -> str: ...


@runtime_checkable
class Recorded(Protocol):
    """An event with its metadata (`messagehandler.events.event.Event`)."""

    @property
    def metadata(self) -> Metadata: ...


@runtime_checkable
class Entry(Protocol):
    """An outbox entry (`messagehandler.eventsource.outbox.OutboxEntry`)."""

    @property
    def stream_type(self) -> str: ...
    @property
    def stream_id(self) -> str: ...
    @property
    def stream(self) -> str: ...
    @property
    def to_version(self) -> int: ...
    @property
    def since(self) -> datetime | None: ...
    @property
    def traceparent(self) -> str | None: ...
    @property
    def tracestate(self) -> str | None: ...
