"""Reading a session-enabled Service Bus queue or subscription: each stream in order, on one worker at a time.

The channel publishes with the stream id as the session id (`ServiceBusChannel(sessions=True)`).
Service Bus locks a session to one receiver: while a worker holds it, no other worker gets that
stream's messages. This receiver holds up to `max_sessions` sessions at once, accepting the next
available one whenever it has room, and keeps their locks renewed (`AutoLockRenewer`). It hands out
at most one message of a session at a time and asks that session for the next only once the last
was settled, so a stream's events are processed strictly in order even when one fails: an abandoned
message comes back first, ahead of the ones behind it. A session that had nothing for
`session_idle` is released, so other workers can take it when its stream has news.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import timedelta
from typing import TYPE_CHECKING

from messagehandler.channels.azure_messaging import AzureMessagingAdapter
from messagehandler.channels.errors import MalformedEnvelopeError
from messagehandler.channels.protocol import ChannelKind, ReceivedMessage
from messagehandler.channels.transactional.servicebus_messages import envelope_of
from messagehandler.channels.transactional.servicebus_receiver import ServiceBusDelivery, set_aside, settle
from messagehandler.extras import requires_extra

with requires_extra("servicebus", "the Service Bus channel", ("azure.servicebus",)):
    from azure.servicebus import NEXT_AVAILABLE_SESSION, ServiceBusReceivedMessage
    from azure.servicebus.aio import AutoLockRenewer

if TYPE_CHECKING:
    from azure.servicebus.aio import ServiceBusClient, ServiceBusReceiver

logger = logging.getLogger(__name__)

SESSION_POLL = 0.25
"""Seconds a held session is asked to wait for its next message within one `receive`."""


class _Session:
    """One locked session: its SDK receiver, the delivery not yet settled, when it last had a message."""

    def __init__(self, owner: ServiceBusSessionReceiver, sdk: ServiceBusReceiver, session_id: str) -> None:
        self.owner = owner
        self.sdk = sdk
        self.session_id = session_id
        self.unsettled = 0
        self.last_message = asyncio.get_running_loop().time()

    async def settle(
        self, message: ServiceBusReceivedMessage, action: str, call: Callable[[ServiceBusReceiver], Awaitable[None]]
    ) -> None:
        try:
            await settle(self.owner, self.sdk, message, action, call)
        finally:
            self.unsettled -= 1
            self.owner._wake.set()


class ServiceBusSessionReceiver(AzureMessagingAdapter):
    """A `ChannelReceiver` over a session-enabled queue or subscription; see the module docstring.

    Obtain it from `ServiceBusChannel.receiver()` on a channel built with `sessions=True`.
    """

    kind = ChannelKind.TRANSACTIONAL
    messaging_system = "servicebus"
    """`messaging.system` of its spans and metrics (OpenTelemetry messaging conventions)."""

    def __init__(
        self,
        client: ServiceBusClient,
        entity: str,
        subscription_name: str | None,
        *,
        name: str,
        namespace: str,
        secrets: Iterable[object],
        max_sessions: int = 8,
        session_idle: timedelta = timedelta(seconds=5),
        max_lock_renewal: timedelta = timedelta(minutes=5),
    ) -> None:
        path = entity if subscription_name is None else f"{entity}/Subscriptions/{subscription_name}"
        self._init_adapter(name, f"sessions of {path!r} on {namespace}", secrets)
        self._client = client
        self._entity = entity
        self._subscription = subscription_name
        self._max_sessions = max_sessions
        self._idle = session_idle.total_seconds()
        self._sessions: dict[str, _Session] = {}
        self._renewer = AutoLockRenewer(max_lock_renewal_duration=max_lock_renewal.total_seconds())
        self._wake = asyncio.Event()
        self._accepting: tuple[ServiceBusReceiver, asyncio.Future[ServiceBusReceiver]] | None = None

    @property
    def sessions(self) -> list[str]:
        """The ids of the sessions (streams) this receiver holds now."""
        return list(self._sessions)

    async def receive(self, max_messages: int = 32, *, wait: timedelta = timedelta(seconds=1)) -> list[ReceivedMessage]:
        """At most one message from each held session whose last message was settled; new sessions are
        accepted while there is room.

        Raises:
            ChannelClosedError: the receiver was closed.
            ChannelUnavailableError: the namespace could not be reached (retry later).
            ChannelAccessDeniedError: the credentials were refused.
            ChannelNotFoundError: the queue or subscription does not exist.
        """
        self._ensure_open()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(wait.total_seconds(), 0.001)
        while True:
            await self._release_idle()
            if len(self._sessions) < self._max_sessions:
                # Holding sessions, only look whether another came; holding none, wait for one.
                await self._accept(0 if self._sessions else max(0.05, deadline - loop.time()))
            ready = [session for session in self._sessions.values() if not session.unsettled][:max_messages]
            if ready:
                poll = min(SESSION_POLL, max(0.01, deadline - loop.time()))
                batches = await asyncio.gather(*(self._take(session, poll) for session in ready))
                deliveries = [delivery for batch in batches for delivery in batch]
                if deliveries:
                    return deliveries
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), min(remaining, 0.2))

    async def _accept(self, wait: float) -> None:
        """Wait up to `wait` seconds for the next available session; an attempt left waiting goes on in the
        background (Service Bus answers when a session frees up, or ends it with a timeout)."""
        if self._accepting is None:
            if self._subscription is None:
                sdk = self._client.get_queue_receiver(self._entity, session_id=NEXT_AVAILABLE_SESSION)
            else:
                sdk = self._client.get_subscription_receiver(
                    self._entity, self._subscription, session_id=NEXT_AVAILABLE_SESSION
                )
            self._accepting = (sdk, asyncio.ensure_future(sdk.__aenter__()))
        sdk, attempt = self._accepting
        await asyncio.wait({attempt}, timeout=wait)
        if not attempt.done():
            return
        self._accepting = None
        error = attempt.exception()
        session_id = sdk.session.session_id if error is None else None
        if not isinstance(session_id, str) or session_id in self._sessions:
            await sdk.close()
            if error is not None and not _no_session(error):
                raise self._failure("accept a session", error) from error
            return
        self._sessions[session_id] = _Session(self, sdk, session_id)
        self._renewer.register(sdk, sdk.session)
        logger.debug("channel %r: holding session %r", self._name, session_id)

    async def _take(self, session: _Session, poll: float) -> list[ReceivedMessage]:
        with self._errors(f"receive from session {session.session_id!r}"):
            received = await session.sdk.receive_messages(max_message_count=1, max_wait_time=poll)
        deliveries: list[ReceivedMessage] = []
        for message in received:
            session.last_message = asyncio.get_running_loop().time()
            try:
                envelope = envelope_of(message)
            except MalformedEnvelopeError as error:
                await set_aside(self, session.sdk, message, error)
                continue
            session.unsettled += 1
            deliveries.append(ServiceBusDelivery(session, message, envelope))
        return deliveries

    async def _release_idle(self) -> None:
        now = asyncio.get_running_loop().time()
        for session in list(self._sessions.values()):
            if not session.unsettled and now - session.last_message >= self._idle:
                del self._sessions[session.session_id]
                logger.debug("channel %r: releasing idle session %r", self._name, session.session_id)
                await session.sdk.close()

    async def _close(self) -> None:
        if self._accepting is not None:
            sdk, attempt = self._accepting
            attempt.cancel()
            await asyncio.gather(attempt, return_exceptions=True)
            await sdk.close()
        await self._renewer.close()
        sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            await session.sdk.close()

    def __repr__(self) -> str:
        return f"ServiceBusSessionReceiver(name={self._name!r}, sessions={sorted(self._sessions)!r})"


def _no_session(error: BaseException) -> bool:
    """Service Bus answers "no session now" with a timeout, or a session that cannot be locked (taken meanwhile)."""
    return type(error).__name__ in ("OperationTimeoutError", "SessionCannotBeLockedError", "TimeoutError")
