"""The CLI's own error: bad input to a command."""

from __future__ import annotations

from messagehandler.errors import MessageHandlerError


class CommandError(MessageHandlerError):
    """Bad input to a command: an unknown stream type, a missing option."""
