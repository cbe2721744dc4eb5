"""Helpers shared by the read-model tests: write organization events, open a read model on files."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from messagehandler import EventSource, InMemoryEventSource
from messagehandler.eventsource.positions import DEFAULT_MARGIN
from messagehandler.projections import DurableReadModel, FileCheckpointStore, Projector
from messagehandler.testing import recorded
from messagehandler.testing.bad_rows import Counted
from samples.organization import OrganizationRegistered, OrganizationRenamed
from samples.organization.search import SearchEntry, SearchEntryProjection

ORG = "Organization"


async def register(source: EventSource, stream_id: str, renames: int = 0) -> None:
    events = [OrganizationRegistered(name=stream_id)] + [
        OrganizationRenamed(name=f"{stream_id}-{i}") for i in range(renames)
    ]
    await source.append(ORG, stream_id, 0, recorded(ORG, stream_id, events))


async def with_a_broken_stream() -> InMemoryEventSource:
    """acme and zeta are fine; broken's version 2 is stored but cannot be read back."""
    store = InMemoryEventSource()
    store.registry.register(Counted)
    await register(store, "acme", renames=1)
    broken = [OrganizationRegistered(name="broken"), Counted.model_construct(count=-1)]
    await store.append(ORG, "broken", 0, recorded(ORG, "broken", broken))
    await register(store, "zeta")
    return store


async def rename(source: EventSource, stream_id: str, version: int, name: str) -> None:
    await source.append(
        ORG, stream_id, version, recorded(ORG, stream_id, [OrganizationRenamed(name=name)], start_version=version + 1)
    )


def model(
    source: EventSource, directory: Path, margin: timedelta = DEFAULT_MARGIN, **options: str
) -> DurableReadModel[SearchEntry]:
    projector = Projector(source, SearchEntryProjection)
    return DurableReadModel(projector, SearchEntry, ORG, FileCheckpointStore(directory), margin=margin, **options)


async def checkpointed(
    source: EventSource, directory: Path, margin: timedelta = DEFAULT_MARGIN
) -> DurableReadModel[SearchEntry]:
    """A read model opened on `source` and saved: the state every restart test starts from."""
    opened = model(source, directory, margin)
    await opened.open()
    await opened.save()
    return opened
