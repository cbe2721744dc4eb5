"""Read models published to a search index, rebuilt beside the live one and switched in without downtime.

Each version of a read model (the hash of its projection code and record type, with the index
schema as its salt) has its own checkpoint, `{name}.{version}`, and its own index, `{name}-{version}`.
An alias document, `{name}.alias` in the checkpoint store, names the live version; readers resolve it
(`live_index`) and never see a half-built index. A worker running new code finds the alias naming
another version: it builds its own beside it while the old one keeps serving, and once a catch-up
finds nothing new, it rewrites the alias (one atomic document write) and drops the old index. A
version the alias has retired is never built again by old code still running somewhere, so a rolling
deployment cannot flip the alias back and forth.

Each version builds under its own lease, so builders of two versions (overlapping deployments) write
the alias at the same time. Every alias write is therefore a compare-and-swap (`ConditionalStore`):
a writer that lost the race reads the alias again and re-applies its change to what is there now.
Progress reports never change which version is live, and a retired version never goes live again.
"""

from __future__ import annotations

import enum
import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, Protocol, TypeVar

from messagehandler.errors import ConfigurationError
from messagehandler.eventsource.positions import TypePosition
from messagehandler.projections.checkpoints import CheckpointStore, ConditionalStore
from messagehandler.projections.durable import Opened
from messagehandler.projections.errors import AliasContentionError, CorruptCheckpointError, RetiredVersionError
from messagehandler.search.protocol import SearchIndex

R = TypeVar("R")
log = logging.getLogger(__name__)

SHORT_VERSION = 12
ALIAS_ATTEMPTS = 50
"""Compare-and-swap rounds an alias change gets; each lost round means another writer's change landed."""


class CheckpointedModel(Protocol[R]):
    """What a live read model needs of its model: a `DurableReadModel` or a `MultiStreamReadModel`."""

    name: str
    version: str
    store: CheckpointStore
    records: dict[str, R]

    @property
    def position(self) -> TypePosition: ...

    async def open(self) -> Opened: ...

    async def catch_up(self) -> set[str]: ...

    async def save(self) -> None: ...


class IndexProvider(Protocol[R]):
    """Opens the index of one version by its physical name, and drops one no longer used."""

    async def open(self, name: str) -> SearchIndex[R]: ...

    async def drop(self, name: str) -> None: ...


class Role(enum.Enum):
    """What a worker running this code does with the read model."""

    LIVE = "live"
    """This version is the one readers use: keep it caught up."""
    BUILD = "build"
    """Another version (or none) is live: build this one beside it, then switch."""
    RETIRED = "retired"
    """A newer version replaced this one: old code still running does nothing."""


@dataclass
class Alias:
    """The alias document: which version is live, which were retired, how a build is going."""

    live: str | None = None
    retired: list[str] = field(default_factory=list)
    building: dict[str, Any] | None = None
    switched_at: str | None = None

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes, name: str) -> Alias:
        try:
            document = json.loads(data)
            return cls(
                live=document.get("live"),
                retired=[str(version) for version in document.get("retired", [])],
                building=document.get("building"),
                switched_at=document.get("switched_at"),
            )
        except (ValueError, RecursionError, TypeError, AttributeError) as error:
            raise CorruptCheckpointError(f"alias document {name!r} is corrupt: {error!r}") from None


async def read_alias(store: CheckpointStore, name: str) -> Alias:
    """The alias of read model `name` (an empty one when none was written yet)."""
    document = f"{name}.alias"
    data = await store.read(document)
    return Alias() if data is None else Alias.from_bytes(data, document)


async def update_alias(store: ConditionalStore, name: str, change: Callable[[Alias], bool]) -> Alias | None:
    """Apply `change` to the alias of read model `name` as a compare-and-swap; the alias written, or None.

    `change` edits the alias it is given and says whether there is anything to write. When another
    writer replaced the alias in between, it is read again and `change` applied to the new one.

    Raises:
        AliasContentionError: the alias changed under every one of `ALIAS_ATTEMPTS` attempts.
    """
    document = f"{name}.alias"
    for _ in range(ALIAS_ATTEMPTS):
        data, tag = await store.read_tagged(document)
        alias = Alias() if data is None else Alias.from_bytes(data, document)
        if not change(alias):
            return None
        if await store.write_if(document, alias.to_bytes(), tag):
            return alias
    raise AliasContentionError(f"alias {document!r} changed under each of {ALIAS_ATTEMPTS} attempts to write it")


def index_name(name: str, version: str) -> str:
    return f"{name}-{version[:SHORT_VERSION]}"


async def live_index(store: CheckpointStore, name: str, indexes: IndexProvider[R]) -> SearchIndex[R] | None:
    """The index readers should query now, None before a first version went live."""
    alias = await read_alias(store, name)
    return None if alias.live is None else await indexes.open(index_name(name, alias.live))


class LiveReadModel(Generic[R]):
    """A `DurableReadModel` (or `MultiStreamReadModel`) kept in its own index per version, behind an alias; see the module docstring.

    Give the durable model `salt=` the index schema's version when the index changes but the
    projection code does not: a new salt is a new version, built beside the live one.
    """

    def __init__(
        self, name: str, model: CheckpointedModel[R], indexes: IndexProvider[R], *, store: CheckpointStore | None = None
    ) -> None:
        self.name = name
        self.model = model
        self.indexes = indexes
        alias_store = store if store is not None else model.store
        if not isinstance(alias_store, ConditionalStore):
            raise ConfigurationError(
                f"read model {name!r}: the alias store {type(alias_store).__name__} cannot write conditionally "
                "(read_tagged/write_if); use FileCheckpointStore or TableCheckpointStore"
            )
        self.store: ConditionalStore = alias_store
        self.version = model.version[:SHORT_VERSION]
        model.name = f"{name}.{self.version}"
        self.index_name = index_name(name, self.version)
        self.index: SearchIndex[R] | None = None
        self.started_at = datetime.now(UTC).isoformat()

    async def role(self) -> Role:
        alias = await read_alias(self.store, self.name)
        if alias.live == self.version:
            return Role.LIVE
        return Role.RETIRED if self.version in alias.retired else Role.BUILD

    async def open(self, *, check: Callable[[], None] | None = None) -> Opened:
        """Open this version's index and checkpoint, catch up, and publish what changed to the index.

        `check` runs before publishing and may raise to prevent it (a worker whose lease is no longer
        surely held must not write over what the next holder writes).
        """
        if self.index is None:
            self.index = await self.indexes.open(self.index_name)
        opened = await self.model.open()
        await self._publish(opened.changed, check)
        return opened

    async def step(self, *, check: Callable[[], None] | None = None) -> set[str]:
        """Catch up once and publish the changed records (after `check`); the checkpoint is saved by `save()`."""
        changed = await self.model.catch_up()
        await self._publish(changed, check)
        return changed

    async def save(self, *, building: bool = False) -> None:
        """Save the checkpoint; while `building`, also report progress in the alias (never changing what is live)."""
        await self.model.save()
        if building:
            await update_alias(self.store, self.name, self._report_progress)

    def _report_progress(self, alias: Alias) -> bool:
        if alias.live == self.version or self.version in alias.retired:
            return False
        alias.building = self.progress("catching up")
        return True

    def progress(self, state: str) -> dict[str, Any]:
        versions = self.model.position.versions
        return {
            "version": self.version,
            "state": state,
            "streams": len(versions),
            "events": sum(versions.values()),
            "records": len(self.model.records),
            "started_at": self.started_at,
            "updated_at": datetime.now(UTC).isoformat(),
        }

    async def switch(self) -> str | None:
        """Make this version live (one compare-and-swap), then drop the index it replaced; returns that version.

        Raises:
            RetiredVersionError: a newer version replaced this one meanwhile; the alias is left as it is.
            AliasContentionError: the alias kept changing under every attempt to write it.
        """
        replaced: list[str | None] = [None]

        def make_live(alias: Alias) -> bool:
            if alias.live == self.version:
                return False
            if self.version in alias.retired:
                raise RetiredVersionError(
                    f"read model {self.name!r}: version {self.version} was replaced by {alias.live}; not switched back"
                )
            replaced[0] = alias.live
            if alias.live is not None and alias.live not in alias.retired:
                alias.retired.append(alias.live)
            alias.live = self.version
            alias.building = self.progress("switched")
            alias.switched_at = datetime.now(UTC).isoformat()
            return True

        if await update_alias(self.store, self.name, make_live) is None:
            return None
        previous = replaced[0]
        log.info("read model %r: version %s is live (was %s)", self.name, self.version, previous)
        if previous is not None:
            await self.indexes.drop(index_name(self.name, previous))
        return previous

    async def _publish(self, changed: set[str], check: Callable[[], None] | None = None) -> None:
        if check is not None:
            check()
        if changed and self.index is not None:
            records = self.model.records
            await self.index.upsert({stream_id: records[stream_id] for stream_id in changed})

    async def close(self) -> None:
        if self.index is not None:
            await self.index.close()
            self.index = None
