"""Running a process manager on the events of a channel, with at-least-once delivery made idempotent.

`ProcessManagerAction` is an action for a `ProcessingHost` (or a `FunctionProcessor`) whose standing
query hands over the events themselves. For each event it finds the process (`correlate`), loads its
state, and, unless the message was handled before, runs the reaction and appends the decisions with
the handled mark in one append. Then it pays what the process owes: each issued command goes to the
command handler (with its id, the same on every redelivery, so the handler can skip a repeat) and is
marked delivered; each scheduled timeout is sent to the scheduler to arrive at its due time and is
marked sent. A redelivered message changes no decision; a crash anywhere leaves at most a debt that
the next message for the process pays. A conflicting append (another worker handled another message
of the same process meanwhile) reloads and tries again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Generic, Protocol, TypeVar

from pydantic import BaseModel

from messagehandler.channels.envelope import CloudEvent
from messagehandler.events.event import Event
from messagehandler.events.serialization import EventSerializer, JsonEventSerializer
from messagehandler.eventsource.protocol import EventSource
from messagehandler.processing.context import ActionableContext
from messagehandler.processmanagers.events import BOOKKEEPING, CommandDelivered, TimeoutScheduled, TimeoutSent
from messagehandler.processmanagers.manager import ProcessManager
from messagehandler.repository.repository import AggregateRepository
from messagehandler.repository.retry import retry_on_conflict

P = TypeVar("P", bound=ProcessManager)
logger = logging.getLogger("messagehandler.processmanagers")

CommandHandler = Callable[[str, BaseModel], Awaitable[None]]
"""`handle(command_id, command)`: runs a command on its aggregate; must tolerate a repeat of the same id."""


class Scheduler(Protocol):
    """Sends envelopes to arrive at a time: `ServiceBusChannel` (scheduled enqueue), `StorageQueueChannel`
    (visibility delay), both with a `schedule(envelopes, at)` method."""

    async def schedule(self, envelopes: Sequence[CloudEvent], at: datetime) -> None: ...


class ProcessManagerAction(Generic[P]):
    """The action that drives process managers of one type; see the module docstring."""

    def __init__(
        self,
        manager_type: type[P],
        source: EventSource,
        handle_command: CommandHandler,
        *,
        scheduler: Scheduler | None = None,
        serializer: EventSerializer | None = None,
    ) -> None:
        self.manager_type = manager_type
        self.source = source
        self.handle_command = handle_command
        self.scheduler = scheduler
        source.registry.register(*BOOKKEEPING)
        self.serializer = serializer if serializer is not None else JsonEventSerializer(source.registry)

    async def __call__(self, outcome: ActionableContext[Event]) -> None:
        await self.handle(outcome.message)

    async def handle(self, event: Event) -> bool:
        """Run the reaction to `event` (once per message id) and pay the process's debts; True when it reacted."""
        process_id = self._process_of(event)
        if process_id is None:
            return False
        message_id = event.metadata.event_id

        async def react(repository: AggregateRepository) -> bool:
            manager = await repository.get(self.manager_type, process_id)
            return manager.handle_message(event, message_id)

        reacted = await retry_on_conflict(self.source, react)
        await retry_on_conflict(self.source, lambda repository: self._pay(repository, process_id))
        return reacted

    def _process_of(self, event: Event) -> str | None:
        own = self.manager_type.stream_type()
        if isinstance(event, TimeoutScheduled):
            return event.metadata.source_id if event.metadata.source_type == own else None
        return self.manager_type.correlate(event)

    async def _pay(self, repository: AggregateRepository, process_id: str) -> None:
        manager = await repository.get(self.manager_type, process_id)
        for command_id, issued in list(manager.undelivered.items()):
            await self.handle_command(command_id, manager.command_of(issued))
            manager.emit(CommandDelivered(command_id=command_id))
        if manager.unsent and self.scheduler is None:
            logger.error(
                "process %s/%s scheduled timeouts but no scheduler is configured", manager.stream_type(), process_id
            )
            return
        for timeout_id, scheduled in list(manager.unsent.items()):
            assert self.scheduler is not None
            await self.scheduler.schedule([CloudEvent.from_event(scheduled, self.serializer)], scheduled.due)
            manager.emit(TimeoutSent(timeout_id=timeout_id))
