"""Channels: how committed events reach other services, as CloudEvents."""

from messagehandler.channels.envelope import CloudEvent
from messagehandler.channels.errors import ChannelError, EnvelopeTooLargeError, UnknownChannelError
from messagehandler.channels.protocol import Channel, ChannelKind, ChannelReceiver, ReceivedMessage

__all__ = [
    "Channel",
    "ChannelError",
    "ChannelKind",
    "ChannelReceiver",
    "CloudEvent",
    "EnvelopeTooLargeError",
    "ReceivedMessage",
    "UnknownChannelError",
]
