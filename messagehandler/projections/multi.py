"""Read models over several stream types: one record from the events of many streams (an organization and
its members in one search entry), checkpointed like a `DurableReadModel`.

Each stream type says which record its events belong to: `keys={"Organization": by_stream, "Member":
lambda event: event.organization_id}`. A catch-up reads each type from its own position and applies
each event to the record its key names, creating it with the factory at the first event that has a
handler. No order holds across streams (Table Storage has no global sequence, and a member may join
before the organization's registration is read), so handlers must not depend on it: let each event
set the fields it owns. Within a stream, events are applied once each, in version order.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any, Generic, TypeVar

from messagehandler.events.event import Event
from messagehandler.eventsource.bad_rows import SkipBadRows
from messagehandler.eventsource.positions import DEFAULT_MARGIN, TypePosition, catch_up
from messagehandler.projections.builder import Factory
from messagehandler.projections.checkpoints import CheckpointStore, check_name, default_name
from messagehandler.projections.durable import Opened, Start
from messagehandler.projections.errors import CheckpointError, CorruptCheckpointError
from messagehandler.projections.projector import Projector
from messagehandler.projections.records import codec_for
from messagehandler.projections.version import CHECKPOINT_FORMAT, read_model_version

R = TypeVar("R")
KeyOf = Callable[[Event], str]
log = logging.getLogger(__name__)


def by_stream(event: Event) -> str:
    """The key of a stream's own record: its stream id."""
    return event.metadata.source_id


class MultiStreamReadModel(Generic[R]):
    """Records of one type built from several stream types; see the module docstring.

    It offers what `DurableReadModel` offers (`open`, `catch_up`, `save`, `records`, `version`), so
    the worker keeps it caught up under a lease and `LiveReadModel` publishes and rebuilds it the same way.
    """

    def __init__(
        self,
        projector: Projector,
        record_type: type[R],
        keys: Mapping[str, KeyOf],
        store: CheckpointStore,
        *,
        name: str | None = None,
        factory: Factory[R] | None = None,
        margin: timedelta = DEFAULT_MARGIN,
        salt: str = "",
        bad_rows: SkipBadRows | None = None,
    ) -> None:
        if not keys:
            raise CheckpointError("a read model over several stream types needs at least one stream type")
        self.projector = projector
        self.record_type = record_type
        self.keys = dict(keys)
        self.store = store
        types = sorted(self.keys)
        self.name = check_name(name if name is not None else default_name("-".join(types), record_type))
        self.margin = margin
        self.bad_rows = bad_rows
        self._builder = projector.builder(record_type)
        self._factory = factory if factory is not None else self._builder.default_factory
        self.version = read_model_version(record_type, self._builder.projections, f"{salt}\ntypes {types}")
        self.records: dict[str, R] = {}
        self.positions: dict[str, TypePosition] = {stream_type: TypePosition() for stream_type in types}
        self._interrupted = False

    @property
    def position(self) -> TypePosition:
        """Every stream seen, as `Type/id`, for progress reports."""
        versions = {f"{t}/{s}": v for t, position in self.positions.items() for s, v in position.versions.items()}
        return TypePosition(versions=versions)

    async def open(self) -> Opened:
        """Load the checkpoint (or start empty) and catch up with every stream type."""
        start = await self._load()
        return Opened(start, await self.catch_up())

    async def _load(self) -> Start:
        self.records, self._interrupted = {}, False
        self.positions = {stream_type: TypePosition() for stream_type in self.keys}
        data = await self.store.read(self.name)
        if data is None:
            return Start.NO_CHECKPOINT
        try:
            document = json.loads(data)
            if not isinstance(document, dict) or document.get("format") != CHECKPOINT_FORMAT:
                raise CorruptCheckpointError("not a checkpoint of this format")
            if document.get("version") != self.version:
                return Start.VERSION_CHANGED
            load = codec_for(self.record_type).load
            positions = {t: TypePosition.from_json(p) for t, p in document["positions"].items()}
            records = {str(key): load(value) for key, value in document["records"].items()}
        except (ValueError, RecursionError, KeyError, TypeError, AttributeError, CorruptCheckpointError) as error:
            log.warning("checkpoint %r is corrupt, rebuilding the read model from the store: %s", self.name, error)
            return Start.CORRUPT_CHECKPOINT
        self.records = records
        self.positions.update(positions)
        return Start.CHECKPOINT

    async def catch_up(self) -> set[str]:
        """Apply the events stored since each type's position; returns the keys of the records changed."""
        if self._interrupted:
            raise CheckpointError(f"read model {self.name!r} was interrupted while catching up; open() it again")
        changed: set[str] = set()
        project = self._builder.project
        try:
            for stream_type, key_of in self.keys.items():
                streams = catch_up(
                    self.projector.source,
                    stream_type,
                    self.positions[stream_type],
                    margin=self.margin,
                    bad_rows=self.bad_rows,
                )
                async for stream in streams:
                    for event in stream.events:
                        key = key_of(event)
                        record = project(self.records.get(key), (event,), key, self._factory)
                        if record is not None:
                            self.records[key] = record
                            changed.add(key)
        except BaseException:
            self._interrupted = True
            raise
        return changed

    async def save(self) -> None:
        """Write records and positions as they are now, as one document."""
        if self._interrupted:
            raise CheckpointError(f"read model {self.name!r} was interrupted while catching up; open() it again")
        dump = codec_for(self.record_type).dump
        document: dict[str, Any] = {
            "format": CHECKPOINT_FORMAT,
            "version": self.version,
            "stream_types": sorted(self.keys),
            "record_type": f"{self.record_type.__module__}.{self.record_type.__qualname__}",
            "positions": {t: position.to_json() for t, position in self.positions.items()},
            "records": {key: dump(record) for key, record in self.records.items()},
        }
        await self.store.write(self.name, json.dumps(document, separators=(",", ":")).encode())
