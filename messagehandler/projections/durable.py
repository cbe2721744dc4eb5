"""Durable read models: load a checkpoint, catch up with newer events, save again.

On `open`, a checkpoint whose version matches the projection code is loaded and only events stored
since its position are applied (`messagehandler.eventsource.positions.catch_up`); a missing, stale or
corrupt checkpoint means a full rebuild from the store. A corrupt checkpoint is not an error: the
event store is the truth and a checkpoint only a cache of it, so the model rebuilds and logs a warning.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Generic, TypeVar

from messagehandler.eventsource.bad_rows import SkipBadRows
from messagehandler.eventsource.positions import DEFAULT_MARGIN, TypePosition, catch_up
from messagehandler.projections.builder import Factory
from messagehandler.projections.checkpoints import (
    CheckpointStore,
    check_name,
    decode,
    default_name,
    encode,
    peek_version,
)
from messagehandler.projections.erasure import reproject_streams
from messagehandler.projections.errors import CheckpointError, CorruptCheckpointError
from messagehandler.projections.projector import Projector, project_streams
from messagehandler.projections.version import read_model_version
from messagehandler.telemetry.rebuilds import restoring

R = TypeVar("R")

log = logging.getLogger(__name__)


class Start(enum.Enum):
    """Where `DurableReadModel.open` started from."""

    CHECKPOINT = "checkpoint"
    NO_CHECKPOINT = "no checkpoint"
    VERSION_CHANGED = "version changed"
    CORRUPT_CHECKPOINT = "corrupt checkpoint"

    @property
    def rebuilt(self) -> bool:
        return self is not Start.CHECKPOINT


@dataclass(frozen=True)
class Opened:
    start: Start
    changed: set[str] = field(default_factory=set)
    """Ids of the records created or changed since the checkpoint (all of them after a rebuild)."""


class DurableReadModel(Generic[R]):
    """The records of one record type over one stream type, kept in a `CheckpointStore`.

    `margin` is how far before the position's high-water mark a catch-up re-reads, to cover commits
    in flight and clock skew between partitions; see `messagehandler.eventsource.positions`.
    A stored row that cannot be read stops `open` and `catch_up` with `UnreadableEventError`; with a
    `bad_rows` policy (`SkipBadRows`) its stream is left as it was and the row reported to the policy
    (once per policy object, however many catch-ups meet it).
    """

    def __init__(
        self,
        projector: Projector,
        record_type: type[R],
        stream_type: str,
        store: CheckpointStore,
        *,
        name: str | None = None,
        factory: Factory[R] | None = None,
        margin: timedelta = DEFAULT_MARGIN,
        salt: str = "",
        bad_rows: SkipBadRows | None = None,
    ) -> None:
        self.projector = projector
        self.record_type = record_type
        self.stream_type = stream_type
        self.store = store
        self.name = check_name(name if name is not None else default_name(stream_type, record_type))
        self.margin = margin
        self.bad_rows = bad_rows
        self._builder = projector.builder(record_type)
        self._factory = factory if factory is not None else self._builder.default_factory
        self.version = read_model_version(record_type, self._builder.projections, salt)
        self.records: dict[str, R] = {}
        self.position = TypePosition()
        self._interrupted = False

    async def open(self) -> Opened:
        """Load the checkpoint (or start empty) and catch up with the store."""
        start = await self._load()
        changed = await self.catch_up()
        return Opened(start, changed)

    async def _load(self) -> Start:
        self.records, self.position, self._interrupted = {}, TypePosition(), False
        try:
            data = await self.store.read(self.name)
            if data is None:
                return Start.NO_CHECKPOINT
            if peek_version(data) != self.version:
                return Start.VERSION_CHANGED
            checkpoint = decode(data, self.record_type)
        except CorruptCheckpointError as error:
            log.warning("checkpoint %r is corrupt, rebuilding the read model from the store: %s", self.name, error)
            return Start.CORRUPT_CHECKPOINT
        self.records, self.position = checkpoint.records, checkpoint.position
        return Start.CHECKPOINT

    async def catch_up(self) -> set[str]:
        """Apply the events stored since the position; returns the ids of the records created or changed."""
        self._refuse_if_interrupted("catch up")
        feed = catch_up(
            self.projector.source, self.stream_type, self.position, margin=self.margin, bad_rows=self.bad_rows
        )
        streams = restoring(feed, "catch_up", self.stream_type, self.record_type, self.name)
        try:
            return await project_streams(self._builder, streams, self.records, self._factory)
        except BaseException:
            self._interrupted = True  # the position may be ahead of the records now
            raise

    async def reproject(self, stream_ids: Iterable[str]) -> set[str]:
        """Project the named streams again from scratch, replacing their records; returns their ids.

        For erasure: after `keyring.forget(subject)` the records hold the subject's values as they
        were read, and catch-up never re-reads a stream nothing was appended to. Call this with the
        subject's streams (`messagehandler.projections.erasure`), then `save`, so the checkpoint holds
        only the erased values. A stream that no longer loads (deleted) or no longer has a record
        loses it. The position is unchanged: only the versions it has seen are projected, and later
        events are left to the next catch-up.

        Raises:
            CheckpointError: a catch-up was interrupted; `open` first.
            UnreadableEventError: a stored row of a named stream cannot be read; no record changed.
        """
        self._refuse_if_interrupted("reproject")
        fresh = await reproject_streams(
            self.projector.source, self._builder, self.stream_type, stream_ids, self._factory, seen=self.position.seen
        )
        for stream_id, record in fresh.items():
            if record is None:
                self.records.pop(stream_id, None)
            else:
                self.records[stream_id] = record
        return set(fresh)

    def _refuse_if_interrupted(self, action: str) -> None:
        """After a failed catch-up the position may be ahead of the records: only open() can recover."""
        if self._interrupted:
            raise CheckpointError(
                f"read model {self.name!r} was interrupted while catching up; open() it again before you {action}"
            )

    async def save(self) -> None:
        """Write records and position as they are now; events arriving during the write wait for the next catch-up."""
        self._refuse_if_interrupted("save")
        data = encode(self.version, self.stream_type, self.record_type, self.position, self.records)
        await self.store.write(self.name, data)
