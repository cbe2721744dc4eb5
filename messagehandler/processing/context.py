"""What flows through standing queries: received messages in, actionable outcomes out.

A `ProcessingContext` is also the message's settlement ledger. It counts what still has to happen
before the message can be settled (the host feeding it to every query, a query holding it in a window,
an action that references it); when the count drops to zero the host completes or releases it by the
channel's kind. Keeping the count on the context itself spares one object per message on the hot path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from messagehandler.channels.envelope import CloudEvent
from messagehandler.channels.protocol import ChannelKind, ReceivedMessage
from messagehandler.events.event import Event
from messagehandler.processing.errors import ProcessingError

if TYPE_CHECKING:
    from messagehandler.processing.ledger import Ledger

T = TypeVar("T")


class ProcessingContext:
    """One received message on its way through the standing queries.

    `message` is the typed event with its metadata; `envelope` is the CloudEvent it travelled in;
    `channel` and `kind` say where it came from and so how it will be settled. An action that was
    emitted with `auto_complete=False` settles its source contexts itself with `complete()` or `fail()`.
    """

    __slots__ = ("_error", "_ledger", "_manual", "_pending", "_settle_manually", "batch", "message", "received")

    def __init__(self, message: Event, received: ReceivedMessage, ledger: Ledger | None = None) -> None:
        self.message = message
        self.received = received
        self.batch: Any = None
        self._ledger = ledger
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
        return self._ledger.channel if self._ledger is not None else ""

    @property
    def kind(self) -> ChannelKind:
        return self._ledger.kind if self._ledger is not None else ChannelKind.VOLATILE

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
        if self._ledger is not None:
            self._ledger.hold(self)
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
            self._release()

    def _acquire(self) -> None:
        self._pending += 1

    def _release(self) -> None:
        self._pending -= 1
        if self._pending == 0 and self._ledger is not None:
            self._ledger.done(self)

    def _mark_failed(self, reason: str) -> None:
        if self._error is None:
            self._error = reason

    def _await_manual(self) -> None:
        """An action with auto_complete=False succeeded: its token stays until complete() or fail()."""
        if self._settle_manually:
            self._release()
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


def require_ledger(context: ProcessingContext) -> Ledger:
    if context._ledger is None:
        raise ProcessingError(f"{context!r} is not tracked by a processing host")
    return context._ledger
