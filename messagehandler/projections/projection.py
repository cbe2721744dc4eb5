"""The `Projection` base class: typed `project(record, event)` handlers that build one record type.

A projection names the record type it builds as its generic argument, `Projection[SearchEntry]`,
and declares one handler per event type it cares about: a method named `project` or `project_*`,
or decorated with `@projects`, whose last parameter is annotated with the event class. Handlers are
found with the same rules as aggregates' apply handlers, when the class is defined.

A handler changes the record in place and returns None, or returns a new record (for frozen models);
either way it must be pure, like an apply handler, or replays will not agree (see `replay`).
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from typing import Any, ClassVar, Generic, TypeVar, overload

from messagehandler.domain.handlers import (
    HandlerKind,
    HandlerTable,
    class_table,
    defining_locals,
    mark_handler,
    table_at_definition,
)
from messagehandler.errors import HandlerDefinitionError
from messagehandler.events.event import Event

R = TypeVar("R")
F = TypeVar("F", bound=Callable[..., Any])

PROJECT = HandlerKind(
    verb="project", prefix="project_", mark="__messagehandler_projects__", leading=("record",), exact_name="project"
)


@overload
def projects(target: F) -> F: ...


@overload
def projects(target: type[Event]) -> Callable[[F], F]: ...


def projects(target: F | type[Event]) -> F | Callable[[F], F]:
    """Mark a method as the project handler of the event type in its annotation, or of the type given."""
    return mark_handler(PROJECT, target)  # type: ignore[no-any-return]


class Projection(Generic[R]):
    """Base class of projections; subclass as `class SearchEntryProjection(Projection[SearchEntry])`."""

    record_type: ClassVar[type[Any] | None] = None
    __handlers__: ClassVar[HandlerTable | None] = None
    __definition_locals__: ClassVar[dict[str, Any] | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.__definition_locals__ = defining_locals(1)
        cls.__handlers__ = table_at_definition(cls, cls.__definition_locals__, PROJECT)
        record_type = _generic_argument(cls)
        if record_type is not None:
            cls.record_type = record_type

    @classmethod
    def handler_table(cls) -> HandlerTable:
        return class_table(cls, PROJECT)

    @classmethod
    def builds(cls) -> type[Any]:
        """The record type; raises HandlerDefinitionError when the class never said."""
        if cls.record_type is None:
            raise HandlerDefinitionError(
                f"{cls.__qualname__} does not name its record type: subclass Projection[RecordType]"
            )
        return cls.record_type


def _generic_argument(cls: type) -> type[Any] | None:
    for base in getattr(cls, "__orig_bases__", ()):
        origin = typing.get_origin(base)
        if isinstance(origin, type) and issubclass(origin, Projection):
            (argument,) = typing.get_args(base)
            if isinstance(argument, type):
                return argument
    return None
