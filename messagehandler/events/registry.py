"""Stable event type names to classes, and the upcasters that bring old payloads up to date.

Stored rows name their event type, never a Python import path: the registry is the only place
that knows which class a name means, so classes can move between modules freely.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from messagehandler.errors import DuplicateEventTypeError, EventDefinitionError, UnknownEventTypeError, UpcastError
from messagehandler.events.event import Event

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
"""Turns the JSON object of schema version n into the JSON object of version n + 1."""

E = TypeVar("E", bound=type[Event])


class EventTypeRegistry:
    """Maps type names to event classes and holds upcasters per (type name, from version)."""

    def __init__(self, classes: Iterable[type[Event]] = ()) -> None:
        self._classes: dict[str, type[Event]] = {}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}
        self.register(*classes)

    def register(self, *classes: type[Event]) -> None:
        """Register classes; registering the same class twice is harmless, two classes under one name is not."""
        for cls in classes:
            if not (isinstance(cls, type) and issubclass(cls, Event)) or cls is Event:
                raise EventDefinitionError(f"{cls!r} is not an Event subclass")
            name = cls.__event_type__
            existing = self._classes.get(name)
            if existing is None:
                self._classes[name] = cls
            elif existing is not cls:
                raise DuplicateEventTypeError(name, existing, cls)

    def event(self, cls: E) -> E:
        """Class decorator form of `register`."""
        self.register(cls)
        return cls

    def resolve(self, type_name: str, *, stream: str | None = None, version: int | None = None) -> type[Event]:
        try:
            return self._classes[type_name]
        except KeyError:
            raise UnknownEventTypeError(type_name, stream, version) from None

    def get(self, type_name: str) -> type[Event] | None:
        """The class registered under `type_name`, or None."""
        return self._classes.get(type_name)

    def __contains__(self, type_name: object) -> bool:
        return type_name in self._classes

    def __iter__(self) -> Iterator[str]:
        return iter(self._classes)

    def __len__(self) -> int:
        return len(self._classes)

    def add_upcaster(self, event: type[Event] | str, from_version: int, upcaster: Upcaster) -> None:
        """Register the step from `from_version` to `from_version + 1` for one event type."""
        name = event if isinstance(event, str) else event.__event_type__
        key = (name, from_version)
        if key in self._upcasters:
            raise EventDefinitionError(
                f"an upcaster for {name!r} from schema version {from_version} is already registered"
            )
        self._upcasters[key] = upcaster

    def upcaster(self, event: type[Event] | str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        """Decorator form of `add_upcaster`."""

        def register(fn: Upcaster) -> Upcaster:
            self.add_upcaster(event, from_version, fn)
            return fn

        return register

    def upcast(
        self, type_name: str, from_version: int, data: dict[str, Any], *, stream: str | None = None
    ) -> dict[str, Any]:
        """Run the chain of upcasters from `from_version` up to the registered class's schema version."""
        target = self.resolve(type_name, stream=stream).__schema_version__
        where = f" (stream {stream!r})" if stream else ""
        if from_version > target:
            raise UpcastError(
                f"event type {type_name!r}{where} is stored with schema version {from_version}, newer than the "
                f"registered class's version {target}: deploy the newer code before reading it"
            )
        version = from_version
        while version < target:
            step = self._upcasters.get((type_name, version))
            if step is None:
                raise UpcastError(f"no upcaster for event type {type_name!r} from schema version {version}{where}")
            try:
                data = step(data)
            except Exception as error:
                raise UpcastError(
                    f"upcaster for event type {type_name!r} from schema version {version} failed{where}: {error}"
                ) from error
            version += 1
        return data
