"""Stable event type names to classes, and the upcasters that bring old payloads up to date.

Stored rows name their event type, never a Python import path: the registry is the only place
that knows which class a name means, so classes can move between modules freely.

Registries are open by default: a name not registered explicitly resolves through `default_registry`,
the process-wide one, which knows every `Event` subclass defined in the process and holds the upcasters
registered on it. So a process that imports its event classes reads them everywhere without
registering anything. Explicit registrations win over the fallback (that is how an ambiguous name is
settled); `EventTypeRegistry(classes, closed=True)` knows only what is registered in it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from messagehandler.errors import (
    AmbiguousEventTypeError,
    DuplicateEventTypeError,
    EventDefinitionError,
    UnknownEventTypeError,
    UpcastError,
)
from messagehandler.events.event import Event, defined_class, defined_count

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
"""Turns the JSON object of schema version n into the JSON object of version n + 1."""

E = TypeVar("E", bound=type[Event])


class EventTypeRegistry:
    """Maps type names to event classes and holds upcasters per (type name, from version).

    Args:
        classes: classes to register now.
        closed: when true, only explicitly registered classes and upcasters count; by default the
            registry falls back to `default_registry` (every defined `Event` subclass).
    """

    def __init__(self, classes: Iterable[type[Event]] = (), *, closed: bool = False) -> None:
        self._classes: dict[str, type[Event]] = {}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}
        self.closed = closed
        self._fallback: EventTypeRegistry | None = None if closed else default_registry
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
        """The class for `type_name`: registered here, else through the fallback.

        Raises:
            UnknownEventTypeError: no class is known for the name; the message says where it looked.
            AmbiguousEventTypeError: only the fallback knows the name, and it knows two classes for it.
        """
        cls = self.get(type_name)
        if cls is None:
            raise UnknownEventTypeError(type_name, stream, version, registry=self.describe()) from None
        return cls

    def get(self, type_name: str) -> type[Event] | None:
        """The class for `type_name`, or None when no class is known for it.

        Raises:
            AmbiguousEventTypeError: only the fallback knows the name, and it knows two classes for it.
        """
        cls = self._classes.get(type_name)
        if cls is not None:
            return cls
        if self._fallback is not None:
            return self._fallback.get(type_name)
        return None

    def describe(self) -> str:
        """Where this registry looks, for error messages."""
        if self._fallback is None:
            listed = ", ".join(sorted(self._classes)) or "nothing"
            return f"a closed EventTypeRegistry (it lists {listed})"
        return f"this EventTypeRegistry ({len(self._classes)} registered) or {self._fallback.describe()}"

    def __contains__(self, type_name: object) -> bool:
        """True when a class is known for the name; an ambiguous name is not known."""
        if not isinstance(type_name, str):
            return False
        try:
            return self.get(type_name) is not None
        except AmbiguousEventTypeError:
            return False

    def __iter__(self) -> Iterator[str]:
        """The explicitly registered names (the fallback is not listed)."""
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

    def _upcaster_for(self, type_name: str, from_version: int) -> Upcaster | None:
        step = self._upcasters.get((type_name, from_version))
        if step is None and self._fallback is not None:
            return self._fallback._upcaster_for(type_name, from_version)
        return step

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
            step = self._upcaster_for(type_name, version)
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


class _ProcessRegistry(EventTypeRegistry):
    """Explicit registrations first, then every `Event` subclass the process has defined."""

    def __init__(self) -> None:
        super().__init__(closed=True)
        self.closed = False

    def get(self, type_name: str) -> type[Event] | None:
        cls = self._classes.get(type_name)
        return cls if cls is not None else defined_class(type_name)

    def describe(self) -> str:
        return f"the process-wide default_registry ({defined_count()} defined event type names)"


default_registry: EventTypeRegistry = _ProcessRegistry()
"""The process-wide registry every open registry falls back to: it knows every defined `Event` subclass.

Register upcasters here (`@default_registry.upcaster(PriceSet, 1)`) so every reader in the process
uses them, and register a class here to settle a type name that two classes share.
"""
