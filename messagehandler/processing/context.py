"""What flows through standing queries: received messages in, actionable outcomes out.

A `ProcessingContext` is also the message's settlement ledger. It counts what still has to happen
before the message can be settled (the host feeding it to every query, a query holding it in a window,
an action that references it); when the count drops to zero the host completes or releases it by the
channel's kind. Keeping the count on the context itself spares one object per message on the hot path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from messagehandler.channels.envelope import CloudEvent
from messagehandler.channels.protocol import ChannelKind, ReceivedMessage
from messagehandler.events.context import MessageContext
from messagehandler.events.event import Event

T = TypeVar("T")


class Tracker(Protocol):
    """What a context needs from whoever settles it; the host's `Ledger` is the one implementation.

    Declared here, by the context that needs it, so the context imports nothing of the host.
    """

    @property
    def channel(self) -> str: ...

    @property
    def kind(self) -> ChannelKind: ...

    def hold(self, context: ProcessingContext) -> None: ...

    def done(self, context: ProcessingContext) -> None: ...


class ProcessingContext:
    """One received message on its way through the standing queries.

    `message` is the typed event with its metadata; `envelope` is the CloudEvent it travelled in;
    `channel` and `kind` say where it came from and so how it will be settled. An action that was
    emitted with `auto_complete=False` settles its source contexts itself with `complete()` or `fail()`.

    `acquire`, `release`, `mark_failed` and `await_manual` are the host's API: they count what is
    still pending on the message, and an application never calls them.
    """

    __slots__ = ("_error", "_manual", "_pending", "_settle_manually", "_tracker", "batch", "message", "received")

    def __init__(self, message: Event, received: ReceivedMessage, tracker: Tracker | None = None) -> None:
        self.message = message
        self.received = received
        self.batch: Any = None
        self._tracker = tracker
        self._pending = 0
        self._error: str | None = None
        self._manual = 0
        self._settle_manually: bool | None = None

    @property
    def envelope(self) -> CloudEvent:
        return self.received.envelope

    @property
    def message_id(self) -> str:
        return self.received.envelope.id

    @property
    def channel(self) -> str:
        return self._tracker.channel if self._tracker is not None else ""

    @property
    def kind(self) -> ChannelKind:
        return self._tracker.kind if self._tracker is not None else ChannelKind.VOLATILE

    @property
    def delivery_count(self) -> int:
        return self.received.delivery_count

    @property
    def failed(self) -> bool:
        return self._error is not None

    @property
    def error(self) -> str | None:
        return self._error

    def hold(self) -> ProcessingContext:
        """Keep the message unsettled while the query being fed retains it (in a window, a buffer).

        The hold passes to the action of the first outcome the query emits with this context; see
        `messagehandler.processing.standing_query.held`.
        """
        if self._tracker is not None:
            self._tracker.hold(self)
        return self

    def complete(self) -> None:
        """The action handled the message: settle it as done once nothing else is pending."""
        self._manual_outcome(None)

    def fail(self, reason: str) -> None:
        """The action could not handle the message: release it for redelivery (or dead-letter it)."""
        self._manual_outcome(reason)

    def _manual_outcome(self, error: str | None) -> None:
        if error is not None and self._error is None:
            self._error = error
        self._settle_manually = True
        waiting, self._manual = self._manual, 0
        for _ in range(waiting):
            self.release()

    def acquire(self) -> None:
        """Host API: one more thing (the feed, a hold, an action) must finish before the message is settled."""
        self._pending += 1

    def release(self) -> None:
        """Host API: one of those things finished; the last one hands the context to its tracker to settle."""
        self._pending -= 1
        if self._pending == 0 and self._tracker is not None:
            self._tracker.done(self)

    def mark_failed(self, reason: str) -> None:
        """Host API: the message failed (the first reason is kept); it is settled as failed once released."""
        if self._error is None:
            self._error = reason

    def await_manual(self) -> None:
        """Host API: an action with auto_complete=False succeeded; its count stays until complete() or fail()."""
        if self._settle_manually:
            self.release()
        else:
            self._manual += 1

    def __repr__(self) -> str:
        return f"ProcessingContext(id={self.message_id!r}, type={self.envelope.type!r}, pending={self._pending})"


@dataclass(slots=True)
class ActionableContext(Generic[T]):
    """An outcome of a standing query: a new message and the contexts it came from.

    With `auto_complete` (the default) the source contexts are settled by the host as soon as the
    action succeeded; without it the action settles them itself with `ProcessingContext.complete()`.
    Not frozen: one is built per outcome on the hot path, and a frozen dataclass builds slower.
    """

    message: T
    contexts: tuple[ProcessingContext, ...] = field(default=())
    auto_complete: bool = True

    @classmethod
    def of(cls, message: T, *contexts: ProcessingContext, auto_complete: bool = True) -> ActionableContext[T]:
        return cls(message, contexts, auto_complete)

    @classmethod
    def from_many(
        cls, message: T, contexts: Sequence[ProcessingContext], *, auto_complete: bool = True
    ) -> ActionableContext[T]:
        return cls(message, tuple(contexts), auto_complete)

    @property
    def message_ids(self) -> list[str]:
        return [context.message_id for context in self.contexts]


def handled_context(contexts: Sequence[ProcessingContext], outer: MessageContext) -> MessageContext:
    """The message context an action runs in, so what it emits continues the messages it handles.

    Events emitted while handling a message are caused by it, share its correlation (the message's own
    id when it had none) and belong to its tenant, which a tenant-scoped event source needs to pick its
    table. An outcome of several messages keeps only what they all share: no single cause, and a
    correlation or tenant only when every message has the same one. `who` is the host's own (`outer`),
    and so is the tenant of a message that names none (a host run per tenant over its own store).
    """
    if len(contexts) == 1:
        meta = contexts[0].message.metadata
        tenant = meta.tenant_id if meta.tenant_id is not None else outer.tenant_id
        return MessageContext(outer.who, meta.event_id, meta.correlation_id or meta.event_id, tenant)
    metas = [context.message.metadata for context in contexts]
    correlations = {meta.correlation_id or meta.event_id for meta in metas}
    tenants = {meta.tenant_id if meta.tenant_id is not None else outer.tenant_id for meta in metas}
    return MessageContext(
        outer.who,
        None,
        correlations.pop() if len(correlations) == 1 else None,
        tenants.pop() if len(tenants) == 1 else None,
    )
