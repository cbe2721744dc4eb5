"""What an aggregate declares to be snapshotted: when, which state, and the schema that makes a snapshot valid.

    class CounterState(BaseModel):
        total: int = 0

    class Counter(EventSourced, snapshots=SnapshotPolicy(CounterState, every=100)):
        def __init__(self, id: str) -> None:
            super().__init__(id)
            self.total = 0
        ...

The state is a pydantic model whose fields name the aggregate's attributes: taking a snapshot builds
it from them, restoring sets them back (override `EventSourced.snapshot_state` and
`restore_snapshot_state` for any other shape). Taking a snapshot refuses an aggregate holding an
attribute the model does not name, because restoring would silently leave it at its initial value.

A snapshot is only valid for the code that wrote it. Its `schema` is a hash of the aggregate class's
code (the bytecode of its methods and of its bases' up to `EventSourced`, not line numbers), the state
model's JSON schema, the schema versions of the events it applies, and the policy's `version`; any
change makes stored snapshots of the old schema unused, and the aggregate is replayed from its events
until its next snapshot. Code outside the class (a helper the handlers call) is not hashed: bump
`version` when it changes what the state would be. A new Python version changes bytecode too, so the
first loads after an upgrade replay fully.

Personal data is never snapshotted: an aggregate applying an event type that marks personal data
(`messagehandler.events.personal`), or whose state model marks any, cannot declare a policy. Its state
would hold that data in plaintext, outside the events' encryption and beyond the reach of erasure
(forgetting a data subject's key makes the events unreadable, not a snapshot's copy of them).
"""

from __future__ import annotations

import enum
import hashlib
import json
import types
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast

from pydantic import BaseModel

from messagehandler.domain.handlers import HandlerTable
from messagehandler.errors import MessageHandlerError, Remedy
from messagehandler.events.event import Event
from messagehandler.events.personal import personal_fields

_BASE_MODULE = "messagehandler.domain.aggregate"
"""Where `EventSourced` lives: its code is not the aggregate's, and importing it here would make a cycle."""


class Snapshotted(Protocol):
    """What a policy reads of an aggregate (`messagehandler.domain.aggregate.EventSourced` has it)."""

    @property
    def version(self) -> int: ...

    @property
    def committed_version(self) -> int: ...

    @classmethod
    def handled_event_types(cls) -> tuple[type[Event], ...]: ...

    @classmethod
    def _handler_table(cls) -> HandlerTable: ...


BASE_ATTRIBUTES = frozenset({"_id", "_version", "_last_event_id", "_pending", "_history"})
"""Attributes of `EventSourced` itself, which a snapshot's version and id stand for."""


class SnapshotDefinitionError(MessageHandlerError):
    """A snapshot policy cannot work for its aggregate: its state model misses attributes, or it would hold personal data."""

    remedy = Remedy.FIX_CODE


@dataclass(frozen=True)
class SnapshotPolicy:
    """Snapshot an aggregate `every` N events, or when `when(aggregate, pending_events)` says so.

    `state` is the pydantic model of the snapshotted state; `version` is mixed into the schema hash,
    to invalidate stored snapshots when something the hash cannot see changes.
    """

    state: type[BaseModel]
    every: int | None = None
    when: Callable[[Any, Sequence[Event]], bool] | None = None
    version: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.state, type) or not issubclass(self.state, BaseModel):
            raise SnapshotDefinitionError(f"a snapshot's state must be a pydantic model class, got {self.state!r}")
        if (self.every is None) == (self.when is None):
            raise SnapshotDefinitionError(
                "a snapshot policy takes either every=N or when=predicate, not both or neither"
            )
        if self.every is not None and (
            isinstance(self.every, bool) or not isinstance(self.every, int) or self.every < 1
        ):
            raise SnapshotDefinitionError(f"every must be an int >= 1, got {self.every!r}")

    def due(self, aggregate: Snapshotted, pending: Sequence[Event]) -> bool:
        """Whether the append of `pending` should carry a snapshot of the aggregate as they leave it."""
        if self.every is not None:
            return aggregate.committed_version // self.every < aggregate.version // self.every
        assert self.when is not None
        return bool(self.when(aggregate, pending))

    def capture(self, aggregate: Snapshotted) -> BaseModel:
        """The state model built from the attributes it names; every other attribute is refused."""
        attributes = {
            name: value for name, value in instance_attributes(aggregate).items() if name not in BASE_ATTRIBUTES
        }
        self.check_names(type(aggregate), attributes.keys(), missing_too=True)
        return self.state.model_validate(attributes)

    def check_names(self, aggregate_type: type, attributes: Iterable[str], *, missing_too: bool) -> None:
        """Refuse attributes the state model does not name (and, with `missing_too`, fields no attribute fills).

        Raises:
            SnapshotDefinitionError: naming both lists.
        """
        names = set(attributes) - BASE_ATTRIBUTES
        fields = set(self.state.model_fields)
        missing = sorted(fields - names) if missing_too else []
        unnamed = sorted(names - fields)
        if missing or unnamed:
            problems = []
            if unnamed:
                problems.append(f"holds {', '.join(unnamed)}, which {self.state.__qualname__} does not name")
            if missing:
                problems.append(f"has no attribute {', '.join(missing)} that {self.state.__qualname__} names")
            raise SnapshotDefinitionError(
                f"cannot snapshot {aggregate_type.__qualname__}: it {' and '.join(problems)}; make the state "
                "model name exactly the aggregate's attributes, or override snapshot_state and restore_snapshot_state"
            )

    def restore(self, aggregate: Snapshotted, state: BaseModel) -> None:
        """Set the aggregate's attributes from the fields of a restored state."""
        for name in type(state).model_fields:
            setattr(aggregate, name, getattr(state, name))


def instance_attributes(instance: object) -> dict[str, Any]:
    """An object's attributes, the ones in `__slots__` of its classes as well as its `__dict__`."""
    found: dict[str, Any] = {}
    for cls in reversed(type(instance).__mro__):
        slots = vars(cls).get("__slots__", ())
        for name in (slots,) if isinstance(slots, str) else slots:
            if name.startswith("__") and not name.endswith("__"):
                name = f"_{cls.__name__.lstrip('_')}{name}"
            if name not in ("__dict__", "__weakref__") and hasattr(instance, name):
                found[name] = getattr(instance, name)
    found.update(getattr(instance, "__dict__", {}))
    return found


_schemas: dict[tuple[type, SnapshotPolicy], str] = {}


def snapshot_schema(aggregate_type: type[Snapshotted], policy: SnapshotPolicy) -> str:
    """The schema a snapshot of this aggregate type is valid for; computed once per class and policy.

    Raises:
        SnapshotDefinitionError: the aggregate or its state model holds personal data.
    """
    key = (aggregate_type, policy)
    known = _schemas.get(key)
    if known is not None:
        return known
    _refuse_personal_data(aggregate_type, policy)
    digest = hashlib.sha256()
    for part in _schema_parts(aggregate_type, policy):
        digest.update(part)
        digest.update(b"\x00")
    schema = digest.hexdigest()[:32]
    _schemas[key] = schema
    return schema


def _refuse_personal_data(aggregate_type: type[Snapshotted], policy: SnapshotPolicy) -> None:
    marked = sorted(t.__event_type__ for t in aggregate_type.handled_event_types() if personal_fields(t) is not None)
    if personal_fields(cast(type[Event], policy.state)) is not None:
        marked.append(f"its state model {policy.state.__qualname__}")
    if marked:
        raise SnapshotDefinitionError(
            f"{aggregate_type.__qualname__} cannot be snapshotted: it holds personal data ({', '.join(marked)}); a "
            "snapshot would keep it in plaintext, beyond encryption and erasure. Load it by replaying its events."
        )


def _schema_parts(aggregate_type: type[Snapshotted], policy: SnapshotPolicy) -> Iterator[bytes]:
    for cls in aggregate_type.__mro__:
        if cls.__module__ == _BASE_MODULE or cls is object:
            continue
        yield cls.__qualname__.encode()
        for name, value in sorted(vars(cls).items()):
            functions = list(_functions(value))
            for function in functions:
                yield name.encode()
                yield from _code(function.__code__)
                yield _stable(function.__defaults__).encode()
            if not functions and not (name.startswith("__") and name.endswith("__")):
                yield f"{name}={_stable(value)}".encode()  # a class constant the handlers may read
    yield json.dumps(policy.state.model_json_schema(), sort_keys=True).encode()
    table = aggregate_type._handler_table()
    events = sorted(
        (t.__event_type__, t.__schema_version__, getattr(table.find(t), "__name__", ""))
        for t in aggregate_type.handled_event_types()
    )
    yield repr(events).encode()
    yield policy.version.encode()


def _functions(value: object) -> Iterator[types.FunctionType]:
    if isinstance(value, staticmethod | classmethod):
        value = value.__func__
    if isinstance(value, property):
        yield from (f for f in (value.fget, value.fset, value.fdel) if isinstance(f, types.FunctionType))
    elif isinstance(value, types.FunctionType):
        yield value


def _code(code: types.CodeType) -> Iterator[bytes]:
    """What a code object does, without where it sits in its file (line numbers change with unrelated edits)."""
    yield code.co_code
    yield repr((code.co_names, code.co_varnames, code.co_argcount, code.co_kwonlyargcount)).encode()
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code(const)
        else:
            yield _stable(const).encode()


def _stable(value: object) -> str:
    """A repr that is the same in every process: sets are ordered (their order follows string hashing)."""
    if isinstance(value, frozenset | set):
        return "{" + ", ".join(sorted(_stable(item) for item in value)) + "}"
    if isinstance(value, tuple):
        return "(" + ", ".join(_stable(item) for item in value) + ")"
    if isinstance(value, types.CodeType):
        return hashlib.sha256(b"".join(_code(value))).hexdigest()
    if isinstance(value, list):
        return "[" + ", ".join(_stable(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(sorted(f"{_stable(k)}: {_stable(v)}" for k, v in value.items())) + "}"
    if isinstance(value, type):
        return f"{value.__module__}.{value.__qualname__}"
    if value is None or value is Ellipsis or isinstance(value, str | bytes | int | float | complex | enum.Enum):
        return repr(value)
    text = repr(value)
    return type(value).__qualname__ if " at 0x" in text else text  # an object's repr may hold its address
