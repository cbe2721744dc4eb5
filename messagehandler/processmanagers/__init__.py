"""Process managers: long-running reactions with their own event-sourced state, driven by events from
channels, issuing commands to aggregates, with timeouts and idempotent handling of redelivery."""

from messagehandler.processmanagers.events import (
    CommandDelivered,
    CommandIssued,
    MessageHandled,
    TimeoutCancelled,
    TimeoutElapsed,
    TimeoutScheduled,
    TimeoutSent,
)
from messagehandler.processmanagers.manager import REACT, ProcessManager, reacts
from messagehandler.processmanagers.runner import CommandHandler, ProcessManagerAction, Scheduler

__all__ = [
    "REACT",
    "CommandDelivered",
    "CommandHandler",
    "CommandIssued",
    "MessageHandled",
    "ProcessManager",
    "ProcessManagerAction",
    "Scheduler",
    "TimeoutCancelled",
    "TimeoutElapsed",
    "TimeoutScheduled",
    "TimeoutSent",
    "reacts",
]
