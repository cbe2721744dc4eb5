"""Errors of channels, receivers, routing and delivery.

A failure that comes from a broker or endpoint is a `ChannelError` and also the service error it is,
so a caller can catch either: a broker that cannot be reached raises `ChannelUnavailableError`, which
is a `ServiceUnavailableError` (retry later); refused credentials raise `ChannelAccessDeniedError`, an
`AccessDeniedError` (fix the configuration); a missing queue, topic or hub raises `ChannelNotFoundError`,
a `ResourceNotFoundError`. The mapping from SDK exceptions is `messagehandler.azure_errors` with
`CHANNEL_ERRORS`. A message that cannot be decoded is not a failure of the channel: it is a
`MalformedEnvelopeError`, and receivers move it aside (see docs/channels/delivery-guarantees.md).

    MessageHandlerError
    ├── ChannelError                       the channel, receiver, dispatcher or relay failed
    │   ├── ChannelClosedError             used after close(): fix the code
    │   ├── EnvelopeTooLargeError          an envelope over the channel's limit: nothing was sent
    │   ├── UnknownChannelError            a route names a channel that is not configured
    │   ├── ChannelConfigurationError      also a ConfigurationError
    │   ├── MessageLockLostError           settled too late: the message will be delivered again
    │   ├── ChannelServiceError            also a ServiceError: the broker or endpoint refused the request
    │   ├── ChannelUnavailableError        also a ServiceUnavailableError: retry later
    │   ├── ChannelAccessDeniedError       also an AccessDeniedError
    │   ├── ChannelNotFoundError           also a ResourceNotFoundError
    │   └── WebhookRedirectError           the endpoint answered 3xx: redirects are never followed
    └── SerializationError
        └── MalformedEnvelopeError         a received message is not a messagehandler CloudEvent
"""

from __future__ import annotations

from collections.abc import Mapping

from messagehandler.errors import (
    AccessDeniedError,
    ConfigurationError,
    MessageHandlerError,
    Remedy,
    ResourceNotFoundError,
    SerializationError,
    ServiceError,
    ServiceUnavailableError,
)


class ChannelError(MessageHandlerError):
    """A channel could not publish or a receiver could not receive or settle; the message says which and why.

    Events whose publish failed stay in the outbox for the relay.
    """

    remedy = Remedy.INSPECT


class ChannelClosedError(ChannelError):
    """A channel or receiver was used after `close()`."""

    remedy = Remedy.FIX_CODE

    def __init__(self, channel: str) -> None:
        self.channel = channel
        super().__init__(f"channel {channel!r} is closed")


class EnvelopeTooLargeError(ChannelError):
    """An envelope exceeds what the channel accepts; sending it would fail on the wire."""

    remedy = Remedy.FIX_INPUT

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

    remedy = Remedy.FIX_CONFIGURATION


class ChannelConfigurationError(ChannelError, ConfigurationError):
    """A channel cannot be built as configured (bad connection string, queue name, option); never names a secret."""

    remedy = Remedy.FIX_CONFIGURATION


class MessageLockLostError(ChannelError):
    """A settlement came too late: the message became visible again and may already be with another receiver.

    Nothing is lost: the message is delivered again, so its handling must tolerate a repeat.
    """

    def __init__(self, channel: str, message_id: str, action: str) -> None:
        self.channel = channel
        self.message_id = message_id
        self.action = action
        super().__init__(
            f"cannot {action} message {message_id} on channel {channel!r}: its lock (visibility timeout) expired "
            "and it will be delivered again"
        )


class ChannelServiceError(ChannelError, ServiceError):
    """The broker or endpoint refused the request for a reason that is neither access nor availability."""

    remedy = Remedy.INSPECT


class ChannelUnavailableError(ChannelError, ServiceUnavailableError):
    """The broker or endpoint could not be reached, timed out, throttled or failed on its side: retry later."""

    remedy = Remedy.RETRY_LATER


class ChannelAccessDeniedError(ChannelError, AccessDeniedError):
    """The broker or endpoint refused the credentials, or the identity lacks a permission."""

    remedy = Remedy.FIX_CONFIGURATION


class ChannelNotFoundError(ChannelError, ResourceNotFoundError):
    """The queue, topic, subscription or event hub the channel names does not exist."""

    remedy = Remedy.FIX_CONFIGURATION


class WebhookRedirectError(ChannelError, ConfigurationError, ServiceError):
    """The webhook endpoint answered with a redirect; it is never followed, so nothing was delivered.

    Following it would re-post a signed body to whatever `Location` names; configure the final URL instead.
    """

    remedy = Remedy.FIX_CONFIGURATION


class MalformedEnvelopeError(SerializationError):
    """A received message is not a messagehandler CloudEvent: bad JSON or base64, nested too deep, another
    spec version, a missing or mistyped attribute. Redelivering it cannot help, so receivers move it to the
    poison or dead-letter path at once and go on with the rest of the batch."""

    remedy = Remedy.INSPECT


CHANNEL_ERRORS: Mapping[type[ServiceError], type[ServiceError]] = {
    ServiceError: ChannelServiceError,
    ServiceUnavailableError: ChannelUnavailableError,
    AccessDeniedError: ChannelAccessDeniedError,
    ResourceNotFoundError: ChannelNotFoundError,
}
"""The channel flavour of each service error, for `azure_errors(..., classes=CHANNEL_ERRORS)`."""
