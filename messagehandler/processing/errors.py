"""Errors of the processing host and its standing queries."""

from __future__ import annotations

from messagehandler.errors import MessageHandlerError


class ProcessingError(MessageHandlerError):
    """A standing query or the host was used in a way that would lose track of a message."""
