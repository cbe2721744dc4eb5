"""`ProcessManager`: a long-running reaction with its own event-sourced state.

A process manager reacts to events from channels (`react_*` handlers, or `@reacts`), decides from its
own state and the event alone, and records its decisions: events of its own (`emit`), commands for
aggregates (`issue`), and timeouts (`schedule`). It never reads a projection: what it needs to know,
it must have been told by an event and kept in its state. Each reaction is stored with the id of the
message that caused it, so a redelivered message changes nothing (`ProcessManagerAction`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, TypeVar, overload

from pydantic import BaseModel

from messagehandler.domain.aggregate import EventSourced
from messagehandler.domain.handlers import HandlerKind, HandlerTable, build_handler_table, mark_handler
from messagehandler.errors import HandlerDefinitionError
from messagehandler.events.event import Event
from messagehandler.processmanagers.events import (
    CommandDelivered,
    CommandIssued,
    MessageHandled,
    TimeoutCancelled,
    TimeoutElapsed,
    TimeoutScheduled,
    TimeoutSent,
)

F = TypeVar("F", bound=Callable[..., Any])
REACT = HandlerKind(verb="react", prefix="react_", mark="__messagehandler_reacts__", exact_name="react")
_IDS = uuid.UUID("0c9a3f52-7a8e-4a55-9d43-1f5c1a1c2b10")


@overload
def reacts(target: F) -> F: ...


@overload
def reacts(target: type[Event]) -> Callable[[F], F]: ...


def reacts(target: F | type[Event]) -> F | Callable[[F], F]:
    """Mark a method as the reaction to the event type in its annotation, or to the type given."""
    return mark_handler(REACT, target)  # type: ignore[no-any-return]


class ProcessManager(EventSourced):
    """Base class of process managers; see the module docstring.

    Subclasses implement `correlate` (which process an event belongs to), reactions, `timed_out` for
    the timeouts they schedule, and list the command classes they issue in `commands`, so issued
    commands can be read back from the stream.
    """

    commands: ClassVar[tuple[type[BaseModel], ...]] = ()
    __reactions__: ClassVar[HandlerTable | None] = None

    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.handled: set[str] = set()
        self.undelivered: dict[str, CommandIssued] = {}
        self.unsent: dict[str, TimeoutScheduled] = {}
        self.timeouts: dict[str, str] = {}
        """Active timeouts: timeout id -> name."""
        self._message_id: str | None = None
        self._issued = 0

    @classmethod
    def correlate(cls, event: Event) -> str | None:
        """The id of the process `event` belongs to, None when it concerns no process of this kind."""
        raise HandlerDefinitionError(f"{cls.__qualname__} must implement correlate(event) -> process id or None")

    def timed_out(self, name: str) -> None:
        """A timeout scheduled with `schedule(name, ...)` arrived and was not cancelled."""
        raise HandlerDefinitionError(f"{type(self).__qualname__} scheduled timeout {name!r} but has no timed_out()")

    @classmethod
    def reactions(cls) -> HandlerTable:
        table = cls.__dict__.get("__reactions__")
        if table is None:
            table = build_handler_table(cls, getattr(cls, "__definition_locals__", None), REACT)
            cls.__reactions__ = table
        return table

    # --- decisions, inside a reaction ------------------------------------------------------------

    def issue(self, command: BaseModel) -> str:
        """Record a command for an aggregate; it is delivered after this reaction is stored. Returns its id,
        the same on every redelivery of the message, so the command's handler can recognise a repeat."""
        if type(command) not in self.commands:
            raise HandlerDefinitionError(
                f"{type(self).__qualname__}.commands does not list {type(command).__qualname__}"
            )
        self._issued += 1
        command_id = str(uuid.uuid5(_IDS, f"{self.stream_type()}/{self.id}/{self._message_id}/{self._issued}"))
        self.emit(
            CommandIssued(
                command_id=command_id, command_type=type(command).__qualname__, command=command.model_dump(mode="json")
            )
        )
        return command_id

    def schedule(self, name: str, after: timedelta, *, now: datetime | None = None) -> str:
        """Record a timeout that arrives `after` from now (Service Bus scheduled enqueue, Storage Queue
        visibility delay) unless cancelled; `timed_out(name)` is called when it does."""
        due = (now or datetime.now(UTC)) + after
        self._issued += 1
        timeout_id = str(uuid.uuid5(_IDS, f"{self.stream_type()}/{self.id}/{self._message_id}/{self._issued}/timeout"))
        self.emit(TimeoutScheduled(timeout_id=timeout_id, name=name, due=due))
        return timeout_id

    def cancel_timeout(self, name: str) -> None:
        for timeout_id, active in list(self.timeouts.items()):
            if active == name:
                self.emit(TimeoutCancelled(timeout_id=timeout_id))

    # --- what the runner calls -------------------------------------------------------------------

    def handle_message(self, event: Event, message_id: str) -> bool:
        """Run the reaction to `event` unless the message was handled already; True when it ran.

        A timeout that arrives before it is due is ignored and not marked handled: it is a copy that
        did not go through the scheduler, and the scheduled one arrives on time with the same id.
        """
        if message_id in self.handled:
            return False
        if isinstance(event, TimeoutScheduled) and event.due > datetime.now(UTC):
            return False  # an early copy (a dispatcher routing the stream): the scheduled one comes on time
        self._message_id, self._issued = message_id, 0
        if isinstance(event, TimeoutScheduled):
            if event.timeout_id in self.timeouts:
                self.emit(TimeoutElapsed(timeout_id=event.timeout_id))
                self.timed_out(event.name)
        else:
            handler = self.reactions().find(type(event))
            if handler is not None:
                handler(self, event)
        self.emit(MessageHandled(message_id=message_id))
        return True

    def command_of(self, issued: CommandIssued) -> BaseModel:
        for command_type in self.commands:
            if command_type.__qualname__ == issued.command_type:
                return command_type.model_validate(issued.command)
        raise HandlerDefinitionError(f"{type(self).__qualname__}.commands does not list {issued.command_type!r}")

    # --- bookkeeping state ----------------------------------------------------------------------

    def apply_handled(self, event: MessageHandled) -> None:
        self.handled.add(event.message_id)

    def apply_issued(self, event: CommandIssued) -> None:
        self.undelivered[event.command_id] = event

    def apply_delivered(self, event: CommandDelivered) -> None:
        self.undelivered.pop(event.command_id, None)

    def apply_scheduled(self, event: TimeoutScheduled) -> None:
        self.unsent[event.timeout_id] = event
        self.timeouts[event.timeout_id] = event.name

    def apply_sent(self, event: TimeoutSent) -> None:
        self.unsent.pop(event.timeout_id, None)

    def apply_cancelled(self, event: TimeoutCancelled) -> None:
        self.timeouts.pop(event.timeout_id, None)
        self.unsent.pop(event.timeout_id, None)

    def apply_elapsed(self, event: TimeoutElapsed) -> None:
        self.timeouts.pop(event.timeout_id, None)
