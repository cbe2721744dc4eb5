"""The event-sourced aggregate: state is whatever its events say, and nothing else.

Applying an event must be pure (no clock, no I/O, no randomness): a replay of the same events must
give the same state. Everything impure happens in the command method before `emit`, and what it
learned goes into the event.
"""

from __future__ import annotations

import copy
import uuid
import weakref
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, ClassVar, Self, TypeVar

from pydantic import BaseModel

from messagehandler.domain.handlers import (
    APPLY,
    HandlerTable,
    class_table,
    defining_locals,
    table_at_definition,
)
from messagehandler.domain.snapshots import (
    SnapshotDefinitionError,
    SnapshotPolicy,
    instance_attributes,
    snapshot_schema,
)
from messagehandler.errors import (
    EventAlreadyEmittedError,
    MissingHandlerError,
    StreamIntegrityError,
)
from messagehandler.events.context import current_message_context
from messagehandler.events.event import Event
from messagehandler.events.metadata import EventMetadata

E = TypeVar("E", bound=Event)

_UNCOPIED = frozenset({"_pending", "_history"})
_DEFINITIONS_CHECKED: weakref.WeakSet[type] = weakref.WeakSet()


class EventSourced:
    """Base class of aggregates whose state is rebuilt from their events.

    `emit(event)` stamps the event's metadata, applies it and keeps it pending until the repository
    has stored it (`commit()`). An event type without an apply handler is refused at `emit`, before it
    becomes pending, and on replay, where it raises `MissingHandlerError` naming the stream and version.
    The stream type defaults to the class name; pass `class Org(EventSourced, stream_type="Organization")`
    to decouple storage from the Python name.
    """

    __stream_type__: ClassVar[str] = "EventSourced"
    __snapshots__: ClassVar[SnapshotPolicy | None] = None
    __handlers__: ClassVar[HandlerTable | None] = None
    __definition_locals__: ClassVar[dict[str, Any] | None] = None

    def __init_subclass__(
        cls, *, stream_type: str | None = None, snapshots: SnapshotPolicy | None = None, **kwargs: Any
    ) -> None:
        super().__init_subclass__(**kwargs)
        cls.__stream_type__ = stream_type if stream_type is not None else cls.__name__
        if snapshots is not None:
            if not isinstance(snapshots, SnapshotPolicy):
                raise SnapshotDefinitionError(f"snapshots= takes a SnapshotPolicy, got {snapshots!r}")
            cls.__snapshots__ = snapshots
        cls.__definition_locals__ = defining_locals(1)
        cls.__handlers__ = table_at_definition(cls, cls.__definition_locals__, APPLY)

    def __init__(self, id: str) -> None:
        if not isinstance(id, str) or not id:
            raise StreamIntegrityError(
                f"{type(self).__qualname__} needs a non-empty string id, got {id!r}", stream=str(id)
            )
        self._id = id
        self._version = 0
        self._last_event_id: str | None = None
        self._pending: list[Event] = []
        self._history: list[Event] = []

    @property
    def id(self) -> str:
        return self._id

    @property
    def version(self) -> int:
        """Version after the last event, pending ones included; 0 for a new aggregate."""
        return self._version

    @property
    def last_event_id(self) -> str | None:
        """The id of the event at `version`; None for a new aggregate.

        A version alone does not say which event a state is at: a stream restored from an older
        backup and written again holds other events at the same versions. The state cache and
        snapshots compare this id with the event the store holds at their version.
        """
        return self._last_event_id

    @property
    def committed_version(self) -> int:
        """The version the store holds: what the next append must expect."""
        return self._version - len(self._pending)

    @property
    def pending_events(self) -> tuple[Event, ...]:
        return tuple(self._pending)

    @property
    def history(self) -> tuple[Event, ...]:
        """The committed events this object applied, in version order: the ones restored plus the ones committed since.

        An aggregate restored from a snapshot or taken from a state cache (see `messagehandler.repository.access`)
        lists only the events applied after that state; the earlier ones were never loaded.
        """
        return tuple(self._history)

    @classmethod
    def stream_type(cls) -> str:
        return cls.__stream_type__

    @classmethod
    def handled_event_types(cls) -> tuple[type[Event], ...]:
        return cls._handler_table().event_types

    @classmethod
    def _handler_table(cls) -> HandlerTable:
        return class_table(cls, APPLY)

    def emit(self, event: E) -> E:
        """Record that something happened: stamp, apply, and keep pending until flushed."""
        if event.has_metadata:
            raise EventAlreadyEmittedError(
                f"{type(event).__qualname__} already carries metadata (stream {event.metadata.stream!r}, "
                f"version {event.metadata.version}); emit a new event instance"
            )
        version = self._version + 1
        handler = self._handler_table().find(type(event))
        if handler is None:
            raise MissingHandlerError(
                type(self), type(event).__event_type__, f"{self.__stream_type__}/{self._id}", version
            )
        context = current_message_context()
        event._stamp(
            EventMetadata(
                event_id=str(uuid.uuid4()),
                event_type=type(event).__event_type__,
                source_id=self._id,
                source_type=self.__stream_type__,
                version=version,
                when=datetime.now(UTC),
                who=context.who,
                causation_id=context.causation_id,
                correlation_id=context.correlation_id,
                tenant_id=context.tenant_id,
                schema_version=type(event).__schema_version__,
            )
        )
        handler(self, event)
        self._version = version
        self._last_event_id = event.metadata.event_id
        self._pending.append(event)
        return event

    def restore_from(self, events: Iterable[Event]) -> None:
        """Replay stored events; each must belong to this stream and follow the current version."""
        table = self._handler_table()
        find = table.find
        version = self._version
        history = self._history
        stream_type = self.__stream_type__
        for event in events:
            meta = event.metadata
            if meta.version != version + 1 or meta.source_id != self._id or meta.source_type != stream_type:
                self._settle(version)
                self._raise_out_of_order(meta, version)
            handler = find(type(event))
            if handler is None:
                self._settle(version)
                raise MissingHandlerError(type(self), meta.event_type, meta.stream, meta.version)
            handler(self, event)
            version += 1
            history.append(event)
        self._settle(version)

    def _settle(self, version: int) -> None:
        """Take the version a replay reached, and the id of the event it ended with."""
        if version != self._version:
            self._version = version
            self._last_event_id = self._history[-1].metadata.event_id

    def _raise_out_of_order(self, meta: EventMetadata, version: int) -> None:
        stream = f"{self.__stream_type__}/{self._id}"
        if meta.source_id != self._id or meta.source_type != self.__stream_type__:
            raise StreamIntegrityError(
                f"event {meta.event_type!r} version {meta.version} belongs to stream {meta.stream!r}, not {stream!r}",
                stream=stream,
                version=meta.version,
            )
        raise StreamIntegrityError(
            f"event {meta.event_type!r} on stream {stream!r} has version {meta.version}, expected {version + 1}",
            stream=stream,
            version=meta.version,
        )

    def snapshot_state(self) -> BaseModel:
        """The state a snapshot keeps: by default the policy's state model, built from the attributes it names.

        Raises:
            SnapshotDefinitionError: the class declares no snapshot policy, or holds attributes its state
                model does not name (they would not be restored).
        """
        return self.snapshot_policy().capture(self)

    def restore_snapshot_state(self, state: BaseModel) -> None:
        """Take the state a snapshot kept: by default, set each attribute the state model names."""
        self.snapshot_policy().restore(self, state)

    def restore_snapshot(self, state: BaseModel, version: int, event_id: str | None = None) -> None:
        """Start this new, empty aggregate from a snapshot's state at `version`; later events follow with `restore_from`.

        `event_id` is the id of the event at `version` (see `last_event_id`), when the snapshot knows it.
        """
        if self._version or self._pending:
            raise StreamIntegrityError(
                f"{self.__stream_type__}/{self._id} is at version {self._version}: restore a snapshot into a new "
                "aggregate only",
                stream=f"{self.__stream_type__}/{self._id}",
            )
        self.restore_snapshot_state(state)
        self._version = version
        self._last_event_id = event_id

    @classmethod
    def snapshot_policy(cls) -> SnapshotPolicy:
        """The snapshot policy the class declares.

        Raises:
            SnapshotDefinitionError: it declares none.
        """
        policy = cls.__snapshots__
        if policy is None:
            raise SnapshotDefinitionError(
                f"{cls.__qualname__} declares no snapshot policy: class {cls.__name__}(EventSourced, "
                "snapshots=SnapshotPolicy(State, every=N))"
            )
        return policy

    @classmethod
    def check_snapshot_definition(cls) -> None:
        """Refuse, when the type is first used, a snapshot policy that could never capture a state.

        What can be seen without a state: personal data, and attributes a new aggregate already holds
        that the state model does not name. A type overriding `snapshot_state` decides its own shape.

        Raises:
            SnapshotDefinitionError: the policy cannot work for this type.
        """
        if cls in _DEFINITIONS_CHECKED:
            return
        policy = cls.snapshot_policy()
        snapshot_schema(cls, policy)
        if cls.snapshot_state is EventSourced.snapshot_state:
            try:
                new = cls("snapshot-definition-check")
            except Exception:
                new = None
            if new is not None:
                policy.check_names(cls, instance_attributes(new), missing_too=False)
        _DEFINITIONS_CHECKED.add(cls)

    def detached(self) -> Self:
        """An independent copy of the committed state, without history: what a state cache keeps and hands out.

        The state is deep-copied, so commands on the copy never change the original; the history is
        not copied at all (events are immutable, and a cached state needs none).

        Raises:
            StreamIntegrityError: the aggregate holds pending events (only committed state is copied).
        """
        if self._pending:
            raise StreamIntegrityError(
                f"{self.__stream_type__}/{self._id} holds {len(self._pending)} pending events: flush before copying",
                stream=f"{self.__stream_type__}/{self._id}",
            )
        state = {name: value for name, value in instance_attributes(self).items() if name not in _UNCOPIED}
        clone = object.__new__(type(self))
        for name, value in copy.deepcopy(state).items():
            object.__setattr__(clone, name, value)
        clone._pending = []
        clone._history = []
        return clone

    def commit(self) -> list[Event]:
        """Mark pending events as stored and return them; called by the repository after an append."""
        committed, self._pending = self._pending, []
        self._history.extend(committed)
        return committed

    def __repr__(self) -> str:
        return f"<{type(self).__qualname__} id={self._id!r} version={self._version}>"
