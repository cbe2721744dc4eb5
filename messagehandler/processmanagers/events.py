"""The events a process manager records about itself: what it handled, the commands and timeouts it owes.

They make a process manager its own outbox: a decision (commands to issue, timeouts to schedule) is
stored in the same append as the mark that the triggering message was handled; delivering a command
or sending a timeout is stored afterwards. A crash in between leaves the debt in the stream, and the
next message for the process (the redelivered one included) pays it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from messagehandler.events.event import Event


class MessageHandled(Event, type_name="messagehandler.MessageHandled"):
    message_id: str


class CommandIssued(Event, type_name="messagehandler.CommandIssued"):
    command_id: str
    command_type: str
    command: dict[str, Any]


class CommandDelivered(Event, type_name="messagehandler.CommandDelivered"):
    command_id: str


class TimeoutScheduled(Event, type_name="messagehandler.TimeoutScheduled"):
    """Stored, then sent to the process's own channel to arrive at `due`; its arrival is the timeout."""

    timeout_id: str
    name: str
    due: datetime


class TimeoutSent(Event, type_name="messagehandler.TimeoutSent"):
    timeout_id: str


class TimeoutCancelled(Event, type_name="messagehandler.TimeoutCancelled"):
    timeout_id: str


class TimeoutElapsed(Event, type_name="messagehandler.TimeoutElapsed"):
    timeout_id: str


BOOKKEEPING = (
    MessageHandled,
    CommandIssued,
    CommandDelivered,
    TimeoutScheduled,
    TimeoutSent,
    TimeoutCancelled,
    TimeoutElapsed,
)
