"""The event base class: a frozen pydantic model whose stored metadata rides along in a slot.

The metadata lives in a slot, not a pydantic field or private attribute, so that the payload's JSON
stays exactly the domain fields and constructing an event costs no more than a plain model.

Every subclass defined in the process is recorded by type name (`defined_class`): registries fall back
to that record, so a process that imports its event classes reads them everywhere without registering
them by hand. Two different classes defined under one name do not fail (test modules and scripts define
look-alike classes freely); they make the name ambiguous, and reading it raises an error naming both
until one is registered explicitly. A class defined again under the same module and qualified name (a
reloaded module, a class made in a function) replaces the earlier one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from messagehandler.errors import AmbiguousEventTypeError, EventDefinitionError
from messagehandler.events.metadata import EventMetadata

_TYPE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,254}$")


class Event(BaseModel):
    """Base class of every domain event.

    Subclasses are pydantic models holding the domain payload. Equality compares the payload only,
    so a test can write `assert events == [OrganizationRenamed(name="x")]`. Give a subclass a stable stored name
    with `class OrganizationRegistered(Event, type_name="OrganizationRegistered")`; the default is the
    class name, never the import path, so moving a module does not orphan stored events. Bump
    `schema_version` when the payload's shape changes and register an upcaster for the old shape.
    Defining a subclass makes its type known to every open registry of the process.
    """

    __slots__ = ("_mh_metadata",)
    model_config = ConfigDict(
        frozen=True, ser_json_bytes="base64", val_json_bytes="base64", ser_json_inf_nan="constants"
    )

    __event_type__: ClassVar[str] = "Event"
    __schema_version__: ClassVar[int] = 1

    def __init_subclass__(cls, *, type_name: str | None = None, schema_version: int = 1, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        name = type_name if type_name is not None else cls.__name__
        if not _TYPE_NAME.match(name):
            raise EventDefinitionError(
                f"event type name {name!r} of {cls.__qualname__} is not valid: use letters, digits, '_', '.', '-' "
                "and start with a letter or '_'"
            )
        if isinstance(schema_version, bool) or not isinstance(schema_version, int) or schema_version < 1:
            raise EventDefinitionError(
                f"schema_version of {cls.__qualname__} must be an int >= 1, got {schema_version!r}"
            )
        cls.__event_type__ = name
        cls.__schema_version__ = schema_version
        _DEFINED.setdefault(name, {})[f"{cls.__module__}.{cls.__qualname__}"] = cls

    @property
    def metadata(self) -> EventMetadata:
        """The stored metadata; present once the event was emitted by an aggregate or loaded."""
        try:
            return self._mh_metadata  # type: ignore[attr-defined,no-any-return]
        except AttributeError:
            raise AttributeError(
                f"{type(self).__qualname__} has no metadata yet: it was neither emitted nor loaded"
            ) from None

    @property
    def has_metadata(self) -> bool:
        return hasattr(self, "_mh_metadata")

    def _stamp(self, metadata: EventMetadata) -> None:
        object.__setattr__(self, "_mh_metadata", metadata)


stamp: Callable[[Event, EventMetadata], None] = Event.__dict__["_mh_metadata"].__set__
"""`event._stamp(metadata)` without the method call: the slot's own setter, for readers that stamp every event."""

_DEFINED: dict[str, dict[str, type[Event]]] = {}


def defined_class(type_name: str) -> type[Event] | None:
    """The one `Event` subclass defined in this process under `type_name`, or None when there is none.

    Raises:
        AmbiguousEventTypeError: two different classes are defined under this name.
    """
    classes = _DEFINED.get(type_name)
    if not classes:
        return None
    if len(classes) > 1:
        raise AmbiguousEventTypeError(type_name, list(classes.values()))
    return next(iter(classes.values()))


def defined_count() -> int:
    """How many type names the process has defined `Event` subclasses for."""
    return len(_DEFINED)
