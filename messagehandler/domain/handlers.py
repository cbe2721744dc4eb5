"""Finding typed event handlers: one per event type, known from annotations or a decorator.

Aggregates' apply handlers are methods named `apply_*`, or any method decorated with `@applies`;
projections use the same rules with their own `HandlerKind` (`project`, `project_*`, `@projects`).
The event type comes from the annotation of the handler's last parameter, or from the decorator's
argument. The table is built when the class is defined, so a handler without an annotation or two
handlers for one event type fail at import time, not in the middle of a replay.
"""

from __future__ import annotations

import inspect
import sys
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, overload

from messagehandler.errors import HandlerDefinitionError
from messagehandler.events.event import Event

Handler = Callable[..., Any]
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class HandlerKind:
    """How one family of handlers is recognised: method names, decorator mark, and arguments before the event."""

    verb: str
    prefix: str
    mark: str
    leading: tuple[str, ...] = ()
    exact_name: str | None = None

    @property
    def signature(self) -> str:
        return "(" + ", ".join(("self", *self.leading, "event")) + ")"


APPLY = HandlerKind(verb="apply", prefix="apply_", mark="__messagehandler_applies__")


def mark_handler(kind: HandlerKind, target: Callable[..., Any] | type[Event]) -> Any:
    """The body of a handler decorator such as `@applies`: bare, or with the event type as argument."""
    if isinstance(target, type):
        event_type = target

        def mark(fn: F) -> F:
            setattr(fn, kind.mark, event_type)
            return fn

        return mark
    setattr(target, kind.mark, True)
    return target


@overload
def applies(target: F) -> F: ...


@overload
def applies(target: type[Event]) -> Callable[[F], F]: ...


def applies(target: F | type[Event]) -> F | Callable[[F], F]:
    """Mark a method as the apply handler of the event type in its annotation, or of the type given."""
    return mark_handler(APPLY, target)  # type: ignore[no-any-return]


class HandlerTable:
    """Event class -> handler, resolved once per aggregate class and cached for subclasses of events."""

    def __init__(self, owner: type, handlers: dict[type[Event], Handler]) -> None:
        self.owner = owner
        self._handlers = handlers
        self._resolved: dict[type[Event], Handler | None] = dict(handlers)

    @property
    def event_types(self) -> tuple[type[Event], ...]:
        return tuple(self._handlers)

    def find(self, event_type: type[Event]) -> Handler | None:
        try:
            return self._resolved[event_type]
        except KeyError:
            found = next((self._handlers[base] for base in event_type.__mro__ if base in self._handlers), None)
            self._resolved[event_type] = found
            return found


def _candidates(owner: type, kind: HandlerKind) -> dict[str, Callable[..., Any]]:
    methods: dict[str, Callable[..., Any]] = {}
    for klass in reversed(owner.__mro__):
        for name, value in vars(klass).items():
            if inspect.isfunction(value) and (
                name.startswith(kind.prefix) or name == kind.exact_name or hasattr(value, kind.mark)
            ):
                methods[name] = value
            elif name in methods:
                del methods[name]
    return methods


def _event_type_of(
    owner: type, name: str, fn: Callable[..., Any], localns: dict[str, Any] | None, kind: HandlerKind
) -> type[Event]:
    explicit = getattr(fn, kind.mark, None)
    if isinstance(explicit, type):
        if not issubclass(explicit, Event):
            raise HandlerDefinitionError(
                f"{owner.__qualname__}.{name}: the {kind.verb} handler's decorator needs an Event subclass, "
                f"got {explicit!r}"
            )
        return explicit
    parameters = list(inspect.signature(fn).parameters.values())
    if len(parameters) != 2 + len(kind.leading):
        raise HandlerDefinitionError(
            f"{owner.__qualname__}.{name}: {'an' if kind.verb[0] in 'aeiou' else 'a'} {kind.verb} handler takes "
            f"exactly {kind.signature}, got {len(parameters) - 1} arguments"
        )
    event_param = parameters[-1].name
    hints = typing.get_type_hints(fn, localns=localns)  # NameError for forward references is handled by the caller
    annotation = hints.get(event_param)
    if annotation is None:
        raise HandlerDefinitionError(
            f"{owner.__qualname__}.{name}: the event parameter {event_param!r} has no type annotation; "
            "annotate it with the event class or name the type in the handler's decorator"
        )
    if not (isinstance(annotation, type) and issubclass(annotation, Event)):
        raise HandlerDefinitionError(
            f"{owner.__qualname__}.{name}: the event parameter is annotated {annotation!r}, which is not an Event subclass"
        )
    return annotation


def build_handler_table(owner: type, localns: dict[str, Any] | None = None, kind: HandlerKind = APPLY) -> HandlerTable:
    """Collect the handlers of `owner`; raises HandlerDefinitionError, or NameError for unresolved annotations.

    `localns` holds the names visible where the class was defined, for aggregates defined in a function.
    """
    handlers: dict[type[Event], Handler] = {}
    names: dict[type[Event], str] = {}
    for name, fn in _candidates(owner, kind).items():
        event_type = _event_type_of(owner, name, fn, localns, kind)
        if event_type in handlers:
            raise HandlerDefinitionError(
                f"{owner.__qualname__} has two {kind.verb} handlers for {event_type.__event_type__!r}: "
                f"{names[event_type]} and {name}"
            )
        handlers[event_type] = fn
        names[event_type] = name
    return HandlerTable(owner, handlers)


def defining_locals(depth: int) -> dict[str, Any] | None:
    """The local names where a class is being defined (`depth` frames up), None at module level."""
    frame = sys._getframe(depth + 1)
    return dict(frame.f_locals) if frame.f_locals is not frame.f_globals else None


def table_at_definition(owner: type, localns: dict[str, Any] | None, kind: HandlerKind) -> HandlerTable | None:
    """The table, or None while annotations still name classes defined later in the module."""
    try:
        return build_handler_table(owner, localns, kind)
    except NameError:
        return None


def class_table(owner: type, kind: HandlerKind) -> HandlerTable:
    """The table kept in `owner.__handlers__`, built now if annotations could not be resolved at definition."""
    table = owner.__dict__.get("__handlers__")
    if table is None:
        try:
            table = build_handler_table(owner, getattr(owner, "__definition_locals__", None), kind)
        except NameError as error:
            raise HandlerDefinitionError(
                f"{owner.__qualname__}: cannot resolve a {kind.verb} handler annotation: {error}"
            ) from error
        setattr(owner, "__handlers__", table)  # noqa: B010 - a dunder attribute of any class
    return table
