"""Errors of channels, routing and delivery."""

from __future__ import annotations

from messagehandler.errors import ConfigurationError, MessageHandlerError


class ChannelError(MessageHandlerError):
    """A channel could not publish; the events stay in the outbox."""


class EnvelopeTooLargeError(ChannelError):
    """An envelope exceeds what the channel accepts; sending it would fail on the wire."""

    def __init__(self, channel: str, event_id: str, size: int, limit: int) -> None:
        self.channel = channel
        self.event_id = event_id
        self.size = size
        self.limit = limit
        super().__init__(
            f"envelope of event {event_id} is {size} bytes, over the {limit}-byte limit of channel {channel!r}"
        )


class UnknownChannelError(ChannelError):
    """A route names a channel that is not configured."""


class ChannelConfigurationError(ChannelError, ConfigurationError):
    """A channel cannot be built as configured (bad connection string, queue name, option); never names a secret."""


class MessageLockLostError(ChannelError):
    """A settlement came too late: the message became visible again and may already be with another receiver."""

    def __init__(self, channel: str, message_id: str, action: str) -> None:
        self.channel = channel
        self.message_id = message_id
        self.action = action
        super().__init__(
            f"cannot {action} message {message_id} on channel {channel!r}: its lock (visibility timeout) expired "
            "and it will be delivered again"
        )
