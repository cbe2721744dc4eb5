"""Given / when / then for aggregates: past events in, one command, the events it emitted (or its error) out.

    given(Organization, OrganizationRegistered(name="Acme")).when(
        lambda org: org.rename("Acme NV")
    ).then(OrganizationRenamed(name="Acme NV"))

    given(Organization).when(lambda org: org.rename("x")).then_raises(ValueError, match="not registered")

Events compare by payload (`Event` equality), so expected events are written as plain constructors.
No store is involved: the past events are stamped as stored versions 1, 2, ... and applied, exactly as
the repository would load them, and the command runs on the aggregate they rebuilt.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Generic, TypeVar

from messagehandler.domain.aggregate import EventSourced
from messagehandler.events.event import Event
from messagehandler.testing.recording import recorded

A = TypeVar("A", bound=EventSourced)
X = TypeVar("X", bound=BaseException)


def _show(events: tuple[Event, ...] | list[Event]) -> str:
    if not events:
        return "  (no events)"
    return "\n".join(f"  {type(e).__event_type__} {e.model_dump(mode='json')}" for e in events)


class Outcome(Generic[A]):
    """What one command did: the events it emitted, or the error it raised."""

    def __init__(self, aggregate: A, emitted: tuple[Event, ...], error: BaseException | None) -> None:
        self.aggregate = aggregate
        self.emitted = emitted
        self.error = error

    def then(self, *expected: Event) -> A:
        """Assert the command emitted exactly `expected`, in order; return the aggregate for further checks."""
        if self.error is not None:
            raise AssertionError(
                f"expected the command to emit:\n{_show(list(expected))}\nbut it raised "
                f"{type(self.error).__name__}: {self.error}"
            ) from self.error
        if list(self.emitted) != list(expected):
            raise AssertionError(
                f"expected the command to emit:\n{_show(list(expected))}\nit emitted:\n{_show(self.emitted)}"
            )
        return self.aggregate

    def then_nothing(self) -> A:
        """Assert the command emitted no event and raised nothing."""
        return self.then()

    def then_raises(self, error: type[X], *, match: str | None = None) -> X:
        """Assert the command raised `error` (its message matching the regex `match`) and emitted nothing."""
        if self.error is None:
            raise AssertionError(
                f"expected the command to raise {error.__name__}, but it emitted:\n{_show(self.emitted)}"
            )
        if not isinstance(self.error, error):
            raise AssertionError(
                f"expected the command to raise {error.__name__}, but it raised "
                f"{type(self.error).__name__}: {self.error}"
            ) from self.error
        if match is not None and re.search(match, str(self.error)) is None:
            raise AssertionError(
                f"{type(self.error).__name__} raised, but {str(self.error)!r} does not match {match!r}"
            )
        if self.emitted:
            raise AssertionError(f"the command raised {error.__name__} but emitted first:\n{_show(self.emitted)}")
        return self.error


class Scenario(Generic[A]):
    """An aggregate rebuilt from past events, waiting for the command under test."""

    def __init__(self, aggregate: A) -> None:
        self.aggregate = aggregate

    def when(self, command: Callable[[A], object]) -> Outcome[A]:
        """Run `command` on the aggregate; an exception it raises is kept for `then_raises`."""
        try:
            command(self.aggregate)
        except Exception as error:
            return Outcome(self.aggregate, self.aggregate.pending_events, error)
        return Outcome(self.aggregate, self.aggregate.pending_events, None)


def given(aggregate_type: type[A], *history: Event, id: str = "given") -> Scenario[A]:
    """An aggregate of `aggregate_type` with `history` applied as its stored versions 1, 2, ..."""
    aggregate = aggregate_type(id)
    aggregate.restore_from(recorded(aggregate_type.stream_type(), id, history))
    return Scenario(aggregate)
