"""Finding an aggregate's apply handlers: one per event type, known from annotations or a decorator.

Handlers are methods named `apply_*`, or any method decorated with `@applies`. The event type comes
from the annotation of the handler's event parameter, or from `@applies(EventType)`. The table is
built when the class is defined, so a handler without an annotation or two handlers for one event
type fail at import time, not in the middle of a replay.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Any, TypeVar, overload

from messagehandler.errors import HandlerDefinitionError
from messagehandler.events.event import Event

Handler = Callable[[Any, Any], None]
F = TypeVar("F", bound=Callable[..., None])

_MARK = "__messagehandler_applies__"
_PREFIX = "apply_"


@overload
def applies(target: F) -> F: ...


@overload
def applies(target: type[Event]) -> Callable[[F], F]: ...


def applies(target: F | type[Event]) -> F | Callable[[F], F]:
    """Mark a method as the apply handler of the event type in its annotation, or of the type given."""
    if isinstance(target, type):
        event_type = target

        def mark(fn: F) -> F:
            setattr(fn, _MARK, event_type)
            return fn

        return mark
    setattr(target, _MARK, True)
    return target


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


def _candidates(owner: type) -> dict[str, Callable[..., Any]]:
    methods: dict[str, Callable[..., Any]] = {}
    for klass in reversed(owner.__mro__):
        for name, value in vars(klass).items():
            if inspect.isfunction(value) and (name.startswith(_PREFIX) or hasattr(value, _MARK)):
                methods[name] = value
            elif name in methods:
                del methods[name]
    return methods


def _event_type_of(owner: type, name: str, fn: Callable[..., Any], localns: dict[str, Any] | None) -> type[Event]:
    explicit = getattr(fn, _MARK, None)
    if isinstance(explicit, type):
        if not issubclass(explicit, Event):
            raise HandlerDefinitionError(
                f"{owner.__qualname__}.{name}: @applies needs an Event subclass, got {explicit!r}"
            )
        return explicit
    parameters = list(inspect.signature(fn).parameters.values())
    if len(parameters) != 2:
        raise HandlerDefinitionError(
            f"{owner.__qualname__}.{name}: an apply handler takes exactly (self, event), got {len(parameters) - 1} arguments"
        )
    event_param = parameters[1].name
    hints = typing.get_type_hints(fn, localns=localns)  # NameError for forward references is handled by the caller
    annotation = hints.get(event_param)
    if annotation is None:
        raise HandlerDefinitionError(
            f"{owner.__qualname__}.{name}: the event parameter {event_param!r} has no type annotation; "
            "annotate it with the event class or use @applies(EventType)"
        )
    if not (isinstance(annotation, type) and issubclass(annotation, Event)):
        raise HandlerDefinitionError(
            f"{owner.__qualname__}.{name}: the event parameter is annotated {annotation!r}, which is not an Event subclass"
        )
    return annotation


def build_handler_table(owner: type, localns: dict[str, Any] | None = None) -> HandlerTable:
    """Collect the handlers of `owner`; raises HandlerDefinitionError, or NameError for unresolved annotations.

    `localns` holds the names visible where the class was defined, for aggregates defined in a function.
    """
    handlers: dict[type[Event], Handler] = {}
    names: dict[type[Event], str] = {}
    for name, fn in _candidates(owner).items():
        event_type = _event_type_of(owner, name, fn, localns)
        if event_type in handlers:
            raise HandlerDefinitionError(
                f"{owner.__qualname__} has two apply handlers for {event_type.__event_type__!r}: "
                f"{names[event_type]} and {name}"
            )
        handlers[event_type] = fn
        names[event_type] = name
    return HandlerTable(owner, handlers)
