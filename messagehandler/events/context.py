"""Who is acting and why, carried across awaits so `emit` can stamp it without extra arguments.

A context variable rather than parameters on every command: a web request or a message handler sets
it once, and every event emitted while handling that request carries the same correlation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MessageContext:
    who: str | None = None
    causation_id: str | None = None
    correlation_id: str | None = None
    tenant_id: str | None = None


_EMPTY = MessageContext()
_current: ContextVar[MessageContext | Callable[[], MessageContext]] = ContextVar(
    "messagehandler_message_context", default=_EMPTY
)


def current_message_context() -> MessageContext:
    current = _current.get()
    return current if type(current) is MessageContext else current()  # type: ignore[operator]


def enter_derived_context(derive: Callable[[], MessageContext]) -> Token[MessageContext | Callable[[], MessageContext]]:
    """Make the context whatever `derive()` returns when asked, until `leave_context(token)`.

    For a host on its hot path: most actions never ask for the context, so building one per message
    up front would cost more than the action. `derive` must return the same context every time.
    """
    return _current.set(derive)


def leave_context(token: Token[MessageContext | Callable[[], MessageContext]]) -> None:
    _current.reset(token)


@contextmanager
def message_context(
    *,
    who: str | None = None,
    causation_id: str | None = None,
    correlation_id: str | None = None,
    tenant_id: str | None = None,
) -> Iterator[MessageContext]:
    """Stamp events emitted inside the block; unset values are inherited from an enclosing block."""
    outer = current_message_context()
    context = MessageContext(
        who=who if who is not None else outer.who,
        causation_id=causation_id if causation_id is not None else outer.causation_id,
        correlation_id=correlation_id if correlation_id is not None else outer.correlation_id,
        tenant_id=tenant_id if tenant_id is not None else outer.tenant_id,
    )
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)
